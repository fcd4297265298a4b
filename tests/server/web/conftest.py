"""A headless Chromium (Debian's `chromium`, driven by Playwright) against the shared real server."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

KEY_STORAGE = "wechat-twin:key"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("no chromium on PATH: `apt-get install -y chromium` (scripts/setup.sh does it on Linux)")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def open_chat(browser: Browser, twin_server) -> Iterator[Callable[..., Page]]:
    """A fresh tab (own localStorage) on /chat, already holding `key`, with the clone picker filled.

    The page follows the browser's language: English unless the test asks for another `locale`."""
    contexts = []

    def open_page(key: str | None = None, **context_options) -> Page:
        context = browser.new_context(**{"locale": "en-US", **context_options})
        contexts.append(context)
        page = context.new_page()
        page.add_init_script(f"sessionStorage.setItem({KEY_STORAGE!r}, {(key or twin_server.api_key)!r})")
        page.goto(f"{twin_server.root_url}/chat")
        page.wait_for_selector("#clone option", state="attached")
        return page

    yield open_page
    for context in contexts:
        context.close()
