"""Take the chat page's screenshots in Chinese and English, and the blind test's in Chinese after a pick
(scripts/screenshots.sh starts the server)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

CHATS = {"zh-CN": ("chat-zh.png", "周末一起吃火锅吗？"), "en-US": ("chat-en.png", "Hotpot this weekend?")}
BLIND = "blind-zh.png"


def wait_for(url: str, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"no server at {url}")


def main(url: str, out: Path) -> None:
    wait_for(url)
    out.mkdir(parents=True, exist_ok=True)
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        for locale, (name, message) in CHATS.items():
            context = browser.new_context(locale=locale, viewport={"width": 760, "height": 620})
            page = context.new_page()
            page.goto(f"{url}/chat")
            page.wait_for_selector("#clone option", state="attached")
            page.select_option("#clone", "demo-clone")
            page.click("#options summary")
            page.fill("#temperature", "0")
            page.fill("#max-tokens", "48")
            page.fill("#input", message)
            page.click("#send")
            page.wait_for_function("() => document.getElementById('stop').hidden", timeout=300_000)
            page.screenshot(path=out / name)
            context.close()
        blind_screenshot(browser, url, out / BLIND)
        browser.close()


def blind_screenshot(browser, url: str, path: Path) -> None:
    """/chat/blind on the demo clone's held-out chats, after a judge who always picks left has picked."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 760, "height": 720})
    page = context.new_page()
    page.add_init_script("localStorage.setItem('wechat-twin:model', 'demo-clone')")
    page.goto(f"{url}/chat/blind")
    page.locator(".candidate .pick").first.click(timeout=300_000)
    page.wait_for_selector(".verdict", timeout=60_000)
    page.screenshot(path=path)
    context.close()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
