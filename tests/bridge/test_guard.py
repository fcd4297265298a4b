"""Guarded topics: a money request, a code or a draft naming a transfer reaches the owner, never the friend.

The real API server answers over the small fake engine (`clone_api`): what is held does not depend on the
model, and `knobs.reply` scripts a draft that names a transfer. The SQLite file is real.
"""

from __future__ import annotations

import pytest

from tests.bridge.conftest import friend_message, owner_message
from wechat_twin.bridge.config import BridgeConfig
from wechat_twin.bridge.guard import TopicMatcher
from wechat_twin.errors import TwinError

FRIEND = "@friend01"
DRAFT = "Hello there! How are you?"  # what the fake engine writes


def _statuses(h) -> list[str]:
    return [row["status"] for row in h.bridge.store.inbox_rows()]


def _exchanges(h) -> list[dict]:
    return [dict(row) for row in h.bridge.feedback.connection.execute("SELECT * FROM exchanges")]


def test_a_money_request_goes_to_the_owner_with_the_draft_and_send_delivers_it(quick_bridge):
    h = quick_bridge()
    h.receive(friend_message("晚饭吃什么", remark="Mia"))
    h.bridge.process_pending()
    assert h.channel.to(FRIEND) == [DRAFT] and h.channel.to("filehelper") == [], "unguarded: answered as before"
    h.channel.sent.clear()
    h.receive(friend_message("能借我2000块吗", remark="Mia"))
    h.bridge.process_pending()
    assert h.channel.to(FRIEND) == [], "nothing guarded reaches the friend without the owner"
    (note,) = h.channel.to("filehelper")
    assert "能借我2000块吗" in note and "钱" in note and DRAFT in note
    assert _statuses(h) == ["answered", "held"]

    h.receive(friend_message("在吗", remark="Mia"))  # waits behind the held one: the clone does not step in
    h.bridge.process_pending()
    assert h.channel.to(FRIEND) == []

    h.receive(owner_message("/send"))
    assert h.channel.to(FRIEND) == [DRAFT]
    assert _statuses(h) == ["answered", "owner", "pending"]
    labels = h.bridge.feedback.unpaired_labels()
    assert [(x["completion"], x["label"]) for x in labels] == [(DRAFT, True)], "enters as what the owner let out"
    assert [e["reply"] for e in _exchanges(h)] == [DRAFT, DRAFT], "the clone's first reply, then the approved draft"
    assert labels[0]["prompt"][-1] == {"role": "user", "content": "能借我2000块吗"}
    h.bridge.process_pending()
    assert len(h.channel.to(FRIEND)) > 1, "then the clone answers what came after"


def test_skip_sends_nothing_but_the_holding_reply(quick_bridge):
    h = quick_bridge(guard={"holding_reply": "等下回你"})
    h.receive(friend_message("验证码发我一下"))
    h.bridge.process_pending()
    assert h.channel.to(FRIEND) == ["等下回你"]
    assert "验证码" in h.channel.to("filehelper")[-1]
    h.receive(owner_message("/skip"))
    h.bridge.process_pending()
    assert h.channel.to(FRIEND) == ["等下回你"]
    assert _statuses(h) == ["owner"]
    assert _exchanges(h) == [] and h.bridge.feedback.unpaired_labels() == []
    h.receive(owner_message("/send"))  # nothing is waiting any more
    assert h.channel.to(FRIEND) == ["等下回你"]


def test_a_draft_that_names_a_transfer_is_held_and_say_sends_the_owners_words(quick_bridge, clone_api):
    clone_api.knobs.reply = ["好的", "，我", "转账", "给你"]
    h = quick_bridge()
    h.receive(friend_message("周末有空吗"))
    h.bridge.process_pending()
    assert h.channel.to(FRIEND) == []
    assert "好的，我转账给你" in h.channel.to("filehelper")[-1]
    h.receive(owner_message("/say 周末不行，下周吧"))
    assert h.channel.to(FRIEND) == ["周末不行，下周吧"]
    assert [e["reply"] for e in _exchanges(h)] == ["周末不行，下周吧"], "the draft never enters the feedback"
    context = h.bridge.store.history(FRIEND, 0, 10)
    assert context == [{"role": "user", "content": "周末有空吗"}, {"role": "assistant", "content": "周末不行，下周吧"}]


def test_defaults_switch_off_and_the_owner_adds_topics():
    work = {"words": ["合同"], "patterns": [r"报价\d+"]}
    config = BridgeConfig(guard={"topics": {"money": {"enabled": False}, "work": work}})
    matcher = TopicMatcher(config.guard)
    assert matcher.topic("能借我2000块吗") is None
    assert matcher.topic("合同签了吗") == "work" and matcher.topic("报价300") == "work"
    assert matcher.topic("你家地址是哪") == "meeting", "the other defaults stay"
    assert TopicMatcher(BridgeConfig().guard).topic("能借我2000块吗") == "money"
    assert TopicMatcher(BridgeConfig(guard={"enabled": False}).guard).topic("验证码") is None


def test_a_bad_pattern_stops_the_start(tmp_path):
    from wechat_twin.bridge.config import load_config

    path = tmp_path / "bridge.toml"
    path.write_text('[guard.topics.mine]\npatterns = ["(unclosed"]\n', encoding="utf-8")
    with pytest.raises(TwinError, match=r"guard\.topics\.mine\.patterns"):
        load_config(path)
