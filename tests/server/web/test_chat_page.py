"""The chat page in a real headless Chromium against the real server: what a friend opening the link sees."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import CHAT_KEY, CHAT_KEY_NAME

BURST_PROMPT = "Write a short poem about the sea."


def _set_sampling(page: Page, temperature: float, max_tokens: int) -> None:
    if not page.locator("#options").evaluate("details => details.open"):
        page.click("#options summary")
    page.fill("#temperature", str(temperature))
    page.fill("#max-tokens", str(max_tokens))


def _send(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.click("#send")


def _wait_idle(page: Page, timeout_ms: float = 120_000) -> None:
    page.wait_for_function("() => document.getElementById('stop').hidden", timeout=timeout_ms)


def _reply_lines(page: Page) -> list[str]:
    return page.locator(".turn.assistant").last.locator(".bubble").all_inner_texts()


def _in_flight(twin_server) -> int:
    return httpx.get(f"{twin_server.root_url}/health").json()["in_flight"]


def _aborted_requests(twin_server) -> float:
    text = httpx.get(f"{twin_server.root_url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("twin_requests_total{") and 'status="499"' in line
    )


def test_root_opens_the_page_which_asks_for_the_key_refuses_a_wrong_one_and_stays_on_loopback(browser, twin_server):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(f"{twin_server.root_url}/")
    assert page.url == f"{twin_server.root_url}/chat"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("#key-prompt")).to_be_visible()
    expect(page.locator("#key-reason")).to_contain_text("needs a key")

    page.fill("#key", "not-the-key")
    page.click("#key-form button")
    expect(page.locator("#key-reason")).to_contain_text("refused")
    expect(page.locator("#key-prompt")).to_be_visible()
    assert page.locator("#clone option").count() == 0

    page.fill("#key", twin_server.api_key)
    page.click("#key-form button")
    expect(page.locator("#key-prompt")).to_be_hidden()
    options = page.locator("#clone option")
    expect(options).to_have_count(3)
    assert sorted(options.evaluate_all("os => os.map(o => o.value)")) == ["SmolLM2-135M-Instruct", "alice", "bob"]
    assert "alice" in options.nth(0).inner_text() + options.nth(1).inner_text()
    page.select_option("#clone", "bob")
    expect(page.locator("#who")).to_contain_text("bob's clone, trained on SmolLM2-135M-Instruct")
    assert page.evaluate("sessionStorage.getItem('wechat-twin:key')") == twin_server.api_key
    assert page.evaluate("localStorage.getItem('wechat-twin:key')") is None
    assert requests and all(url.startswith(f"{twin_server.root_url}/") for url in requests), requests
    context.close()


def test_a_late_refusal_of_a_wrong_key_does_not_undo_the_right_one(browser, twin_server):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{twin_server.root_url}/chat")
    expect(page.locator("#key-reason")).to_contain_text("needs a key")
    held = []  # the wrong key's second request, answered only after the right key is in
    page.route("**/chat/api/session", lambda route: held.append(route) if not held else route.continue_())
    page.fill("#key", "not-the-key")
    page.click("#key-form button")
    expect(page.locator("#key-reason")).to_contain_text("refused")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1 and held[0].request.headers["authorization"] == "Bearer not-the-key"

    page.fill("#key", twin_server.api_key)
    page.click("#key-form button")
    expect(page.locator("#clone option")).to_have_count(3)
    with page.expect_response("**/chat/api/session") as late:
        held[0].continue_()
    assert late.value.status == 401
    page.wait_for_timeout(500)  # the page has had the refusal; before the fix, the key prompt came back here
    expect(page.locator("#key-prompt")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('wechat-twin:key')") == twin_server.api_key
    context.close()


def test_a_reply_streams_into_one_bubble_per_line_as_the_api_answers_it(open_chat, client, twin_server):
    page = open_chat()
    page.select_option("#clone", "SmolLM2-135M-Instruct")
    _set_sampling(page, temperature=0, max_tokens=80)
    _send(page, BURST_PROMPT)
    # Text shows while the reply is still being written: streamed, not drawn once at the end.
    page.wait_for_function(
        "() => !document.getElementById('stop').hidden && "
        "document.querySelectorAll('.turn.assistant .bubble:not(.typing)').length > 0"
    )
    _wait_idle(page)
    messages = [{"role": "user", "content": BURST_PROMPT}]
    expected = (
        client.chat.completions.create(model="SmolLM2-135M-Instruct", messages=messages, temperature=0, max_tokens=80)
        .choices[0]
        .message.content
    )
    lines = [line for line in expected.split("\n") if line.strip()]
    assert len(lines) >= 2, f"the prompt should give a multi-line burst: {expected!r}"
    assert _reply_lines(page) == lines
    assert BURST_PROMPT not in twin_server.log_path.read_text(errors="replace"), "the server logged message text"


def test_stop_aborts_the_generation_in_the_engine(open_chat, twin_server):
    page = open_chat()
    page.select_option("#clone", "SmolLM2-135M-Instruct")
    _set_sampling(page, temperature=0, max_tokens=900)
    aborted = _aborted_requests(twin_server)
    _send(page, "Write a very long story about a pirate ship, with many chapters.")
    page.wait_for_function("() => document.querySelectorAll('.turn.assistant .bubble:not(.typing)').length > 0")
    assert _in_flight(twin_server) == 1
    page.click("#stop")
    _wait_idle(page, timeout_ms=10_000)
    deadline = time.monotonic() + 10
    while _in_flight(twin_server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _in_flight(twin_server) == 0, "the engine kept generating after Stop"
    assert _aborted_requests(twin_server) == aborted + 1
    expect(page.locator(".turn.assistant .note")).to_have_text("stopped")


def test_regenerate_replaces_the_reply_and_edit_resends_the_last_message(open_chat):
    page = open_chat()
    page.select_option("#clone", "bob")
    _set_sampling(page, temperature=1.0, max_tokens=12)
    _send(page, "Hi Bob, how are you?")
    _wait_idle(page)
    with page.expect_request("**/v1/chat/completions") as regenerated:
        page.click(".regenerate")
    _wait_idle(page)
    assert regenerated.value.post_data_json["messages"] == [{"role": "user", "content": "Hi Bob, how are you?"}]
    expect(page.locator(".turn")).to_have_count(2)
    stored = page.evaluate("JSON.parse(sessionStorage.getItem('wechat-twin:chat:bob'))")
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
    shown = [line for line in stored["messages"][1]["content"].split("\n") if line.strip()]
    assert _reply_lines(page) == shown

    page.click(".turn.user .actions button")
    expect(page.locator(".turn")).to_have_count(0)
    assert page.input_value("#input") == "Hi Bob, how are you?"
    with page.expect_request("**/v1/chat/completions") as edited:
        _send(page, "Hi Bob, what is new?")
    _wait_idle(page)
    assert edited.value.post_data_json["messages"] == [{"role": "user", "content": "Hi Bob, what is new?"}]
    expect(page.locator(".turn")).to_have_count(2)

    page.reload()
    page.select_option("#clone", "bob")
    expect(page.locator(".turn.user .bubble")).to_have_text("Hi Bob, what is new?")
    with page.expect_download() as download:
        page.click("#export")
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert exported["model"] == "bob"
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant"]
    assert exported["messages"][0]["content"] == "Hi Bob, what is new?"
    page.click("#new-chat")
    expect(page.locator(".turn")).to_have_count(0)


def test_thumbs_up_and_a_pick_from_show_two_land_in_the_feedback_db_and_export(open_chat, twin_server, tmp_path):
    page = open_chat(key=CHAT_KEY)
    page.select_option("#clone", "alice")
    _set_sampling(page, temperature=0.9, max_tokens=16)
    _send(page, "Ahoy Alice, where is the treasure?")
    _wait_idle(page)
    liked = page.evaluate("JSON.parse(sessionStorage.getItem('wechat-twin:chat:alice')).messages[1].content")
    page.get_by_role("button", name="Good reply").click()
    expect(page.get_by_role("button", name="Good reply")).to_have_class("pressed")

    page.click(".show-two")
    candidates = page.locator(".candidate")
    expect(candidates).to_have_count(2, timeout=120_000)
    second = "\n".join(candidates.nth(1).locator(".bubble").all_inner_texts())
    candidates.nth(1).locator(".pick").click()
    expect(page.locator(".candidate")).to_have_count(0)
    assert "\n".join(_reply_lines(page)) == second

    database = twin_server.adapters_dir.parent / "feedback.db"
    assert (os.stat(database).st_mode & 0o777) == 0o600
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT l.kind, l.good, l.chosen, e.chat_name, e.adapter, e.reply, e.candidates "
            "FROM labels l JOIN exchanges e ON e.id=l.exchange_id WHERE l.labeler=?",
            (f"web:{CHAT_KEY_NAME}",),
        ).fetchall()
    assert [(kind, good, chosen) for kind, good, chosen, *_ in rows] == [("label", 1, None), ("choice", None, 1)]
    assert {row[3] for row in rows} == {f"web:{CHAT_KEY_NAME}"} and {row[4] for row in rows} == {"alice"}
    assert rows[0][5] == liked and len(json.loads(rows[1][6])) == 2

    out = tmp_path / "export"
    done = subprocess.run(
        [sys.executable, "-m", "wechat_twin.bridge.cli", "export-feedback", "--db", str(database), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "1 preference pairs and 1 labels" in done.stdout
    pair = json.loads((out / "preference.jsonl").read_text(encoding="utf-8"))
    label = json.loads((out / "unpaired.jsonl").read_text(encoding="utf-8"))
    assert pair["prompt"] == [{"role": "user", "content": "Ahoy Alice, where is the treasure?"}]
    assert pair["chosen"] == json.loads(rows[1][6])[1] and pair["rejected"] == json.loads(rows[1][6])[0]
    assert label == {
        "prompt": pair["prompt"],
        "completion": liked,
        "label": True,
        "adapter": "alice",
        "base_model": "SmolLM2-135M-Instruct",
    }


def test_a_chat_key_chats_but_cannot_manage_adapters(twin_server):
    headers = {"Authorization": f"Bearer {CHAT_KEY}"}
    assert httpx.get(f"{twin_server.base_url}/models", headers=headers).status_code == 200
    refused = httpx.post(f"{twin_server.base_url}/unload_lora_adapter", json={"lora_name": "bob"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "chat_only_key"
    session = httpx.get(f"{twin_server.root_url}/chat/api/session", headers=headers).json()
    assert session == {"key_name": CHAT_KEY_NAME, "feedback": True, "blind": False}  # not enabled for this key


def test_on_a_phone_the_page_is_one_column_without_horizontal_scroll(open_chat):
    page = open_chat(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, device_scale_factor=2)
    page.select_option("#clone", "alice")
    _set_sampling(page, temperature=0, max_tokens=8)
    _send(page, "a-very-long-word-without-any-space-" * 6)
    _wait_idle(page)
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll: content {widths[0]} px wide in a {widths[1]} px viewport"
    box = page.locator("#input").bounding_box()
    assert box["width"] > 200 and box["height"] >= 40


def _enter_key(page: Page, key: str) -> None:
    expect(page.locator("#key-prompt")).to_be_visible()
    page.fill("#key", key)
    page.click("#key-form button")
    page.wait_for_selector("#clone option", state="attached")


def test_the_key_and_the_conversation_are_forgotten_with_the_tab_unless_kept_on_this_device(browser, twin_server):
    """A shared browser: closing the tab forgets the key and the conversation (sessionStorage); ticking "Keep on
    this device" keeps both for the next tab (localStorage), and unticking takes them off the device again."""
    context = browser.new_context(locale="en-US")
    url = f"{twin_server.root_url}/chat"
    page = context.new_page()
    page.goto(url)
    _enter_key(page, twin_server.api_key)
    page.select_option("#clone", "bob")
    _set_sampling(page, temperature=0, max_tokens=2)
    _send(page, "a secret from the first tab")
    _wait_idle(page)
    assert page.evaluate("localStorage.getItem('wechat-twin:key')") is None
    assert not page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('wechat-twin:chat:'))")
    page.close()

    page = context.new_page()  # the same browser, a new tab: nothing of the first is left
    page.goto(url)
    _enter_key(page, twin_server.api_key)
    page.select_option("#clone", "bob")
    expect(page.locator(".turn")).to_have_count(0)
    _set_sampling(page, temperature=0, max_tokens=2)  # opens the options, where the box is
    page.check("#keep")
    _send(page, "kept on this device")
    _wait_idle(page)
    page.close()

    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#clone option", state="attached")
    expect(page.locator("#key-prompt")).to_be_hidden()
    page.select_option("#clone", "bob")
    expect(page.locator(".turn.user .bubble")).to_have_text(["kept on this device"])
    assert page.evaluate("localStorage.getItem('wechat-twin:key')") == twin_server.api_key
    page.click("#options summary")
    page.uncheck("#keep")
    assert page.evaluate("Object.keys(localStorage).filter(k => k.endsWith(':key') || k.includes(':chat:'))") == []
    assert page.evaluate("sessionStorage.getItem('wechat-twin:key')") == twin_server.api_key, "kept in this tab"
    page.close()
    page = context.new_page()
    page.goto(url)
    expect(page.locator("#key-prompt")).to_be_visible()
    context.close()
