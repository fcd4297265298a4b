"""The blind test's page (/chat/blind) in a real headless Chromium: a judge sees a held-out moment and two
replies, picks, and is told which was the owner's; the pick is in the feedback database.

The server is the real app over HTTP with the small fake engine (tests/support/inprocess_server.py): the page's
behaviour does not depend on what the model writes, and the clone's reply is then known (the fake's REPLY).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.server.web.conftest import KEY_STORAGE
from tests.support.fake_engine import REPLY
from tests.support.inprocess_server import serve_fake
from tests.support.memory import MOM, write_memory
from wechat_twin.server.adapters.card import read_card, write_card
from wechat_twin.server.adapters.heldout import HELDOUT_FILE
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.keys import ChatKey

OWNER_KEY = "owner-key-0123456789"
FRIEND_KEY = "friend-chat-key-0123456"  # chats with jay, not enabled for the blind test
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


@pytest.fixture
def server(tmp_path, adapters_dir):
    """A clone `jay` whose held-out sample has two moments (each owner reply after a friend's turn)."""
    folder = tmp_path / "adapters" / "jay"
    shutil.copytree(adapters_dir / "alice", folder)
    write_memory(folder)
    write_card(folder, read_card(folder).model_copy(update={"owner_name": "Jay"}))
    (folder / HELDOUT_FILE).write_text(json.dumps(SAMPLE, ensure_ascii=False) + "\n", encoding="utf-8")
    settings = ServerSettings(
        adapters_dir=folder.parent,
        api_keys=[OWNER_KEY],
        chat_keys={"friend": ChatKey(key=FRIEND_KEY, clones=["jay"], contact="妈妈")},
    )
    with serve_fake(settings) as running:
        yield running


def _open(browser, server, path: str, key: str):
    context = browser.new_context(locale="zh-CN", viewport={"width": 760, "height": 720})
    page = context.new_page()
    page.add_init_script(
        f"sessionStorage.setItem({KEY_STORAGE!r}, {key!r}); localStorage.setItem('wechat-twin:model', 'jay')"
    )
    page.goto(f"{server.root_url}{path}")
    return context, page


def test_a_judge_picks_on_the_page_and_is_told_which_reply_was_the_owners(browser, server, tmp_path):
    context, page = _open(browser, server, "/chat/blind", OWNER_KEY)
    picks = page.locator(".candidate .pick")
    expect(picks).to_have_count(2, timeout=60_000)
    expect(page.locator(".note").first).to_have_text("哪一条是Jay本人写的？")
    assert page.locator(".turn.user .bubble").first.inner_text() == FRIEND[0]
    candidates = page.locator(".candidate")
    texts = [candidates.nth(side).locator(".bubble").all_inner_texts() for side in (0, 1)]
    real = OWNER.split("\n") if page.locator(".turn.user").count() == 2 else ["看情况哈"]
    assert sorted(texts) == sorted([real, ["".join(REPLY)]]), "the owner's reply (a burst: its lines) and the clone's"
    owner_side = texts.index(real)

    picks.nth(owner_side).click()
    expect(page.locator(".verdict.right")).to_contain_text("答对了")
    expect(page.locator(".candidate.owner")).to_contain_text(real[0])
    expect(page.locator(".candidate.owner .note")).to_have_text("Jay的真实回复")
    expect(page.locator("#score")).to_have_text("已判断 1 次，被骗 0 次")
    expect(page.locator(".candidate .pick")).to_have_count(0)
    page.screenshot(path=tmp_path / "blind-zh.png")

    page.click("#next")  # the next moment, and a judge who picks the clone's is told so
    expect(picks).to_have_count(2, timeout=60_000)
    clone_side = [candidates.nth(side).locator(".bubble").all_inner_texts() for side in (0, 1)].index(["".join(REPLY)])
    picks.nth(clone_side).click()
    expect(page.locator(".verdict.fooled")).to_contain_text("被骗了")
    expect(page.locator("#score")).to_have_text("已判断 2 次，被骗 1 次")
    context.close()

    with sqlite3.connect(Path(server.app.state.settings.feedback_path())) as db:
        rows = db.execute("SELECT adapter, judge, picked = owner_side FROM blind_trials ORDER BY id").fetchall()
    assert rows == [("jay", "api-key-1", 1), ("jay", "api-key-1", 0)]


def test_a_key_the_owner_did_not_enable_is_told_so_and_the_chat_page_hides_the_link(browser, server):
    context, page = _open(browser, server, "/chat/blind", FRIEND_KEY)
    expect(page.locator("#status")).to_have_text("这个密钥不能参加盲测：需要主人为这个密钥打开。")
    expect(page.locator(".candidate")).to_have_count(0)
    context.close()
    for key, visible in ((OWNER_KEY, True), (FRIEND_KEY, False)):
        context, page = _open(browser, server, "/chat", key)
        page.wait_for_selector("#clone option", state="attached")
        link = expect(page.locator("#blind-link"))
        link.to_be_visible() if visible else link.to_be_hidden()
        context.close()
