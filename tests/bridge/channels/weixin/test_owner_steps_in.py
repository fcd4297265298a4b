"""The owner steps in through the bot: `/take` relays both ways, guarded topics wait for `/send` or `/skip`.

The fake iLink server on one side; on the other the real API server over the small fake engine (what is
relayed or held does not depend on the model).
"""

from __future__ import annotations

from tests.bridge.channels.weixin.conftest import FRIEND, wait_for

DRAFT = "Hello there! How are you?"  # what the fake engine writes
OTHER = "li-5d0e@im.wechat"


def _start(run_weixin, clone_api, **changes):
    clone_api.knobs.reply = None
    return run_weixin(api_base=clone_api.base_url, api_key=clone_api.api_key, **changes)


def test_take_relays_both_ways_with_the_friends_context_token_until_release(fake_ilink, run_weixin, clone_api):
    owner = fake_ilink.owner_id
    running = _start(run_weixin, clone_api)
    fake_ilink.text(FRIEND, "hi", context_token="ctx-mia-1")
    wait_for(lambda: fake_ilink.texts_to(FRIEND) == [DRAFT], what="the clone's answer")
    fake_ilink.text(owner, "/take mia", context_token="ctx-owner")
    wait_for(lambda: any("mia" in t for t in fake_ilink.texts_to(owner)), what="the takeover notice")

    fake_ilink.text(FRIEND, "is that really you?", context_token="ctx-mia-2")
    wait_for(lambda: f"【{FRIEND}】is that really you?" in fake_ilink.texts_to(owner), what="the friend forwarded")
    fake_ilink.text(owner, "yes, it's me this time")
    wait_for(lambda: len(fake_ilink.texts_to(FRIEND)) == 2, what="the owner's words relayed")
    assert fake_ilink.texts_to(FRIEND) == [DRAFT, "yes, it's me this time"]
    assert fake_ilink.sent(FRIEND)[-1].body["msg"]["context_token"] == "ctx-mia-2", "the friend's latest token"

    fake_ilink.text(OTHER, "anyone home?")
    wait_for(lambda: fake_ilink.texts_to(OTHER) == [DRAFT], what="another contact, still the clone's")
    fake_ilink.text(owner, "/who")
    wait_for(lambda: fake_ilink.texts_to(owner)[-1] == f"接管中：{FRIEND}", what="/who")
    fake_ilink.text(owner, "/release")
    wait_for(lambda: fake_ilink.texts_to(owner)[-1] == f"{FRIEND} 已交还分身", what="the release")
    fake_ilink.text(FRIEND, "ok")
    wait_for(lambda: len(fake_ilink.texts_to(FRIEND)) == 3, what="the clone answering again")
    assert fake_ilink.texts_to(FRIEND)[-1] == DRAFT
    assert running.error is None


def test_a_takeover_ends_after_the_idle_time(fake_ilink, run_weixin, clone_api):
    owner = fake_ilink.owner_id
    _start(run_weixin, clone_api, takeover_idle_minutes=0.02)  # 1.2 s
    fake_ilink.text(FRIEND, "hi")
    wait_for(lambda: fake_ilink.texts_to(FRIEND), what="the clone's answer")
    fake_ilink.text(owner, "/take mia")
    wait_for(
        lambda: f"0.02 分钟没有你的消息：{FRIEND} 已交还分身" in fake_ilink.texts_to(owner), what="the idle notice"
    )
    fake_ilink.text(FRIEND, "still there?")
    wait_for(lambda: len(fake_ilink.texts_to(FRIEND)) == 2, what="the clone answering again")


def test_a_money_request_waits_for_the_owner_who_sends_the_draft(fake_ilink, run_weixin, clone_api):
    owner = fake_ilink.owner_id
    running = _start(run_weixin, clone_api, guard={"holding_reply": "等下回你"})
    fake_ilink.text(FRIEND, "能借我2000块吗", context_token="ctx-money")
    note = wait_for(lambda: [t for t in fake_ilink.texts_to(owner) if "能借我2000块吗" in t], what="the owner's copy")
    assert DRAFT in note[0] and "钱" in note[0]
    assert fake_ilink.texts_to(FRIEND) == ["等下回你"], "the friend gets the holding reply only"
    fake_ilink.text(owner, "/send")
    wait_for(lambda: len(fake_ilink.texts_to(FRIEND)) == 2, what="the draft sent")
    assert fake_ilink.texts_to(FRIEND) == ["等下回你", DRAFT]
    assert {c.body["msg"]["context_token"] for c in fake_ilink.sent(FRIEND)} == {"ctx-money"}
    assert running.statuses() == ["owner"]


def test_skip_sends_the_friend_nothing(fake_ilink, run_weixin, clone_api):
    owner = fake_ilink.owner_id
    running = _start(run_weixin, clone_api)
    fake_ilink.text(FRIEND, "把验证码发我一下")
    wait_for(lambda: [t for t in fake_ilink.texts_to(owner) if "验证码" in t], what="the owner's copy")
    fake_ilink.text(owner, "/skip")
    wait_for(lambda: running.statuses() == ["owner"], what="the skip")
    wait_for(lambda: fake_ilink.texts_to(owner)[-1] == f"没有回复 {FRIEND}", what="the skip noted")
    assert fake_ilink.texts_to(FRIEND) == []
