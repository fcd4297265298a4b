"""The chat page in Chinese and in English, in a real Chromium against the real server.

The browser's language picks the table (zh-CN → texts.zh.json, en-US → texts.en.json); a whole walk (the key
prompt, a reply, stop, regenerate, show two) shows the table's strings and none of the other table's, and the
switch changes the language and keeps it across a reload.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import CHAT_KEY
from wechat_twin.server.web.router import STATIC_DIR

LOCALES = {"zh-CN": "zh", "en-US": "en"}
OTHER = {"zh": "en", "en": "zh"}
# The medium date and short time each language writes (Intl in Chromium), for a check that does not use Intl.
STAMP = {
    "zh": r"(\d{4})年(\d{1,2})月(\d{1,2})日 \d{2}:\d{2}",
    "en": r"([A-Z][a-z]{2}) (\d{1,2}), (\d{4}), \d{1,2}:\d{2}\W[AP]M",
}

# Every string the page shows outside the conversation: text (not the bubbles, which are the chat itself),
# tooltips, placeholders, accessible names and the title, shown now or hidden until needed.
PAGE_STRINGS = """() => {
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode()); ) {
    if (node.textContent.trim() && !node.parentElement.closest(".bubble")) out.push(node.textContent.trim());
  }
  for (const node of document.querySelectorAll("[title], [placeholder], [aria-label]")) {
    for (const name of ["title", "placeholder", "aria-label"]) {
      if (node.getAttribute(name)) out.push(node.getAttribute(name));
    }
  }
  return out;
}"""


def _table(language: str) -> dict[str, str]:
    return json.loads((STATIC_DIR / f"texts.{language}.json").read_text(encoding="utf-8"))


def _fragments(table: dict[str, str]) -> set[str]:
    """The literal parts of every string (placeholders cut out) that hold a letter of some script."""
    parts = (part.strip() for text in table.values() for part in re.split(r"\{\w+\}", text))
    return {part for part in parts if len(part) >= 2 and re.search(r"[^\W\d_]", part)}


def _assert_speaks(page: Page, language: str) -> None:
    shown = "\n".join(page.evaluate(PAGE_STRINGS))
    foreign = sorted(part for part in _fragments(_table(OTHER[language])) if part in shown)
    assert foreign == [], f"the {language} page shows the other table's strings {foreign}:\n{shown}"
    texts = _table(language)
    assert page.evaluate("document.documentElement.lang").startswith(language)
    assert page.title() == texts["page_title"]
    expect(page.locator("#send")).to_have_text(texts["send"])
    expect(page.locator("#input")).to_have_attribute("placeholder", texts["message"])


def _wait_idle(page: Page, timeout_ms: float = 120_000) -> None:
    page.wait_for_function("() => document.getElementById('stop').hidden", timeout=timeout_ms)


def _send(page: Page, text: str, max_tokens: int) -> None:
    if not page.locator("#options").evaluate("details => details.open"):
        page.click("#options summary")
    page.fill("#temperature", "0.9")
    page.fill("#max-tokens", str(max_tokens))
    page.fill("#input", text)
    page.click("#send")


def _assert_stamp(page: Page, language: str) -> None:
    stamp = page.locator("#log .time").first.inner_text()
    match = re.fullmatch(STAMP[language], stamp)
    assert match, f"{stamp!r} is not a {language} date"
    today = datetime.now(UTC)
    if language == "zh":
        assert tuple(map(int, match.groups())) == (today.year, today.month, today.day)
    else:
        assert match.groups() == (today.strftime("%b"), str(today.day), str(today.year))


@pytest.mark.parametrize("locale", LOCALES)
def test_the_page_speaks_the_browsers_language_through_a_whole_chat(browser, twin_server, locale):
    language = LOCALES[locale]
    texts = _table(language)
    context = browser.new_context(locale=locale, timezone_id="UTC")
    page = context.new_page()
    page.goto(f"{twin_server.root_url}/chat")
    expect(page.locator("#key-reason")).to_have_text(texts["key_needed"])
    _assert_speaks(page, language)
    page.fill("#key", "not-the-key")
    page.click("#key-form button")
    expect(page.locator("#key-reason")).to_have_text(texts["key_refused"])
    _assert_speaks(page, language)

    page.fill("#key", CHAT_KEY)
    page.click("#key-form button")
    expect(page.locator("#clone option")).to_have_count(3)
    page.select_option("#clone", "alice")
    base = "SmolLM2-135M-Instruct"
    expect(page.locator("#who")).to_have_text(texts["who_clone"].format(owner="alice", base=base))
    expect(page.locator(f"#clone option[value='{base}']")).to_have_text(texts["option_base"].format(model=base))

    _send(page, "Ahoy Alice, where is the treasure?", max_tokens=10)
    _wait_idle(page)
    _assert_stamp(page, language)
    expect(page.locator(".regenerate")).to_have_text(texts["regenerate"])
    expect(page.get_by_role("button", name=texts["good_reply"])).to_be_visible()
    _assert_speaks(page, language)

    _send(page, "Tell me a very long story about your ship, with many chapters.", max_tokens=900)
    page.wait_for_function("() => document.querySelectorAll('.turn.assistant .bubble:not(.typing)').length > 1")
    expect(page.locator("#stop")).to_have_text(texts["stop"])
    page.click("#stop")
    _wait_idle(page, timeout_ms=10_000)
    expect(page.locator(".turn.assistant .note")).to_have_text(texts["stopped"])
    _assert_speaks(page, language)

    _send(page, "And the map?", max_tokens=10)
    _wait_idle(page)
    with page.expect_request("**/v1/chat/completions"):
        page.click(".regenerate")
    _wait_idle(page)
    _assert_speaks(page, language)

    page.click(".show-two")
    expect(page.locator("#status")).to_have_text(texts["writing_two"])
    expect(page.locator(".candidate")).to_have_count(2, timeout=120_000)
    expect(page.locator(".turn.assistant .note").last).to_have_text(texts["which_reply"])
    expect(page.locator(".pick").first).to_have_text(texts["pick"])
    _assert_speaks(page, language)
    page.locator(".pick").first.click()
    expect(page.locator(".candidate")).to_have_count(0)
    expect(page.locator("#status")).to_have_text("")

    # The switch: the other language at once, the same conversation, and kept for the next visit.
    other = OTHER[language]
    expect(page.locator("#language")).to_have_text(texts["language"])
    page.click("#language")
    expect(page.locator("#send")).to_have_text(_table(other)["send"])
    _assert_speaks(page, other)
    _assert_stamp(page, other)
    expect(page.locator(".turn.assistant .note").first).to_have_text(_table(other)["stopped"])
    page.reload()
    expect(page.locator("#clone option")).to_have_count(3)
    _assert_speaks(page, other)
    context.close()


def test_an_error_from_the_server_is_told_in_the_pages_language(browser, twin_server):
    texts = _table("zh")
    context = browser.new_context(locale="zh-TW")
    page = context.new_page()
    page.add_init_script(f"sessionStorage.setItem('wechat-twin:key', {CHAT_KEY!r})")
    page.goto(f"{twin_server.root_url}/chat")
    expect(page.locator("#clone option")).to_have_count(3)
    page.route("**/v1/chat/completions", lambda route: route.abort())
    page.fill("#input", "你好")
    page.click("#send")
    expect(page.locator("#status")).to_have_text(texts["offline"])
    page.unroute("**/v1/chat/completions")
    page.route(
        "**/v1/chat/completions",
        lambda route: route.fulfill(
            status=400, content_type="application/json", body=json.dumps({"error": {"message": "max_tokens too large"}})
        ),
    )
    page.fill("#input", "你好")
    page.click("#send")
    expect(page.locator("#status")).to_have_text(texts["error"].format(message="max_tokens too large"))
    context.close()
