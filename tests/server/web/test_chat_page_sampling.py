"""The page's Sampling fields start empty and leave the values to the clone, whose own it shows (its model card).

A real headless Chromium against the real app over HTTP; the small fake engine records what it was asked for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.inprocess_server import serve_fake
from tests.support.tuned_adapter import TUNED_BUDGET, TUNED_SAMPLING, tuned_adapters
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.web.router import STATIC_DIR

OWN_TEMPERATURE = TUNED_SAMPLING["temperature"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, adapters_dir) -> Iterator:
    root = tuned_adapters(adapters_dir / "alice", tmp_path_factory.mktemp("tuned-adapters"))
    settings = ServerSettings(adapters_dir=root, feedback_db=tmp_path_factory.mktemp("feedback") / "feedback.db")
    with serve_fake(settings) as running:
        yield running


def _open(browser: Browser, server, locale: str) -> Page:
    page = browser.new_context(locale=locale).new_page()
    page.goto(f"{server.root_url}/chat")
    page.wait_for_selector("#clone option", state="attached")
    page.select_option("#clone", "tuned")
    page.click("#options summary")
    return page


def _sent_bodies(page: Page, action) -> dict:
    with page.expect_request("**/v1/chat/completions") as request:
        action()
    page.wait_for_function("() => document.getElementById('stop').hidden")
    return json.loads(request.value.post_data)


def _chat(page: Page, text: str) -> dict:
    def send() -> None:
        page.fill("#input", text)
        page.click("#send")

    return _sent_bodies(page, send)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_fields_start_empty_show_the_clones_values_and_send_nothing(browser, server, locale):
    texts = json.loads((STATIC_DIR / f"texts.{locale[:2]}.json").read_text(encoding="utf-8"))
    page = _open(browser, server, locale)
    expect(page.locator("#temperature")).to_have_value("")
    expect(page.locator("#max-tokens")).to_have_value("")
    expect(page.locator("#temperature")).to_have_attribute("placeholder", str(OWN_TEMPERATURE))
    expect(page.locator("#max-tokens")).to_have_attribute("placeholder", str(TUNED_BUDGET))
    own = texts["sampling_own"].format(temperature=OWN_TEMPERATURE, max_tokens=TUNED_BUDGET)
    expect(page.locator("#sampling-own")).to_have_text(own)

    body = _chat(page, "dinner tonight?")
    assert "temperature" not in body and "max_tokens" not in body, body
    used = server.engine.seen[-1]
    assert (used.temperature, used.max_tokens) == (OWN_TEMPERATURE, TUNED_BUDGET), "the server used the clone's"
    page.context.close()


def test_a_typed_value_is_sent_kept_and_an_emptied_field_goes_back_to_the_clones(browser, server):
    page = _open(browser, server, "en-US")
    page.fill("#temperature", "1.3")
    body = _chat(page, "and tomorrow?")
    assert body["temperature"] == 1.3 and "max_tokens" not in body
    assert server.engine.seen[-1].max_tokens == TUNED_BUDGET

    page.reload()
    page.wait_for_selector("#clone option", state="attached")
    expect(page.locator("#temperature")).to_have_value("1.3")
    expect(page.locator("#max-tokens")).to_have_value("")

    page.click("#options summary")
    page.fill("#temperature", "")
    body = _sent_bodies(page, lambda: page.click(".regenerate"))
    assert "temperature" not in body and "max_tokens" not in body, body
    assert server.engine.seen[-1].temperature == OWN_TEMPERATURE
    page.context.close()


def test_a_page_that_kept_the_old_fixed_values_starts_empty_too(browser, server):
    """Before, every send stored both fields (0.7 and 256 unless changed): they are not carried over."""
    context = browser.new_context(locale="en-US")
    context.add_init_script(
        "localStorage.setItem('wechat-twin:sampling', JSON.stringify({temperature: 0.7, maxTokens: 256}))"
    )
    page = context.new_page()
    page.goto(f"{server.root_url}/chat")
    page.wait_for_selector("#clone option", state="attached")
    expect(page.locator("#temperature")).to_have_value("")
    expect(page.locator("#max-tokens")).to_have_value("")
    context.close()
