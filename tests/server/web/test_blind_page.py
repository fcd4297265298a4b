"""The blind test's page (/chat/blind) in a real headless Chromium against the shared real server: a judge sees a
held-out moment and two replies, picks, and is told which was the owner's; the pick is in the feedback database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import CHAT_KEY
from tests.server.web.conftest import KEY_STORAGE
from tests.support.memory import MOM, write_memory
from tests.support.served_copy import served_copy
from wechat_twin.feedback import FEEDBACK_FILE
from wechat_twin.server.adapters.card import read_card, write_card
from wechat_twin.server.adapters.heldout import HELDOUT_FILE

FRIEND = ["周末回家吃饭吗？", "记得带件外套"]
OWNER = "好呀 周六回\n外套带了带了[呲牙]"
SAMPLE = {
    "messages": [
        {"role": "user", "content": FRIEND[0]},
        {"role": "assistant", "content": "看情况哈"},
        {"role": "user", "content": FRIEND[1]},
        {"role": "assistant", "content": OWNER},
    ],
    "chat": MOM,
    "session_start": "2024-02-01T10:00:00+08:00",
}


def _heldout_clone(folder: Path) -> None:
    """One held-out sample with two moments (each owner reply after a friend's turn): the page shows whichever the
    server draws. A small reply budget keeps the clone's reply short on the CPU engine."""
    write_memory(folder)
    write_card(folder, read_card(folder).model_copy(update={"owner_name": "Jay", "reply_tokens_p99": 8}))
    (folder / HELDOUT_FILE).write_text(json.dumps(SAMPLE, ensure_ascii=False) + "\n", encoding="utf-8")


def test_a_judge_picks_on_the_page_and_is_told_which_reply_was_the_owners(browser, twin_server, tmp_path):
    with served_copy(twin_server, "jay", _heldout_clone):
        context = browser.new_context(locale="zh-CN", viewport={"width": 760, "height": 720})
        page = context.new_page()
        page.add_init_script(
            f"sessionStorage.setItem({KEY_STORAGE!r}, {twin_server.api_key!r});"
            "localStorage.setItem('wechat-twin:model', 'jay')"
        )
        page.goto(f"{twin_server.root_url}/chat/blind")
        picks = page.locator(".candidate .pick")
        expect(picks).to_have_count(2, timeout=180_000)
        expect(page.locator(".note").first).to_have_text("哪一条是Jay本人写的？")
        assert page.locator(".turn.user .bubble").first.inner_text() == FRIEND[0]
        candidates = page.locator(".candidate")
        texts = [candidates.nth(side).locator(".bubble").all_inner_texts() for side in (0, 1)]
        real = OWNER.split("\n") if page.locator(".turn.user").count() == 2 else ["看情况哈"]
        assert real in texts, "one side is the owner's real reply, a burst shown as its lines"
        owner_side = texts.index(real)

        picks.nth(owner_side).click()
        expect(page.locator(".verdict.right")).to_contain_text("答对了")
        expect(page.locator(".candidate.owner")).to_contain_text(real[0])
        expect(page.locator(".candidate.owner .note")).to_have_text("Jay的真实回复")
        expect(page.locator("#score")).to_have_text("已判断 1 次，被骗 0 次")
        expect(page.locator(".candidate .pick")).to_have_count(0)
        page.screenshot(path=tmp_path / "blind-zh.png")
        context.close()

    database = twin_server.adapters_dir.parent / FEEDBACK_FILE
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT adapter, judge, picked, owner_side FROM blind_trials").fetchall()
    assert ("jay", "api-key-1", owner_side, owner_side) in rows


def test_the_chat_page_links_to_the_blind_test_only_for_keys_that_may_judge(open_chat):
    expect(open_chat().locator("#blind-link")).to_be_visible()
    expect(open_chat(CHAT_KEY).locator("#blind-link")).to_be_hidden()  # the shared friend key: not enabled
