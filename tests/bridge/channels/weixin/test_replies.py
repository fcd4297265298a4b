"""Friends and the owner through the fake iLink server, answered by the real server on the embedded model."""

from __future__ import annotations

import json
import time

from tests.bridge.channels.weixin.conftest import FRIEND, wait_for
from tests.support.forwarding import forwarding
from tests.support.server_process import free_port


def _lines(reply: str) -> list[str]:
    return [line.strip() for line in reply.split("\n") if line.strip()]


def test_a_friend_gets_the_reply_as_messages_with_their_context_token_after_typing(fake_ilink, run_weixin, twin_server):
    running = run_weixin(max_tokens=24)
    message = fake_ilink.text(FRIEND, "hey, dinner tonight?", context_token="ctx-mia-1")
    wait_for(lambda: running.statuses() == ["answered"], what="the answer")
    fake_ilink.push(message)  # re-delivered: answered once only
    wait_for(
        lambda: running.bridge.channel_state("weixin.cursor") == {"weixin.cursor": "cur-2"}, what="the re-delivery"
    )

    exchange = running.bridge.feedback.last_reply(FRIEND)
    assert json.loads(exchange["context"]) == [{"role": "user", "content": "hey, dinner tonight?"}]
    assert fake_ilink.texts_to(FRIEND) == _lines(exchange["reply"]), "one sendmessage per line of the reply"
    sends = fake_ilink.sent(FRIEND)
    assert {c.body["msg"]["context_token"] for c in sends} == {"ctx-mia-1"}
    assert {c.port for c in fake_ilink.calls_to("getupdates")} == {fake_ilink.alt_port}, "the account's base URL"
    typing = [c for c in fake_ilink.calls_to("sendtyping") if c.body["ilink_user_id"] == FRIEND]
    assert typing[0].body["status"] == 1 and typing[0].at < sends[0].at, "typing shows before the first message"
    assert typing[-1].body["status"] == 2 and typing[-1].at > sends[-1].at, "and is cancelled after the last"
    assert fake_ilink.calls_to("getconfig")[0].body["context_token"] == "ctx-mia-1"
    assert running.statuses() == ["answered"] and len(running.bridge.store.inbox_rows()) == 1


def test_a_voice_with_a_transcript_is_answered_and_one_without_is_not(fake_ilink, run_weixin, twin_server):
    running = run_weixin()
    fake_ilink.voice(FRIEND, "", context_token="ctx-silent")
    fake_ilink.voice(FRIEND, "are you free this weekend", context_token="ctx-spoken")
    wait_for(lambda: running.statuses() == ["answered"], what="the spoken message answered")

    exchange = running.bridge.feedback.last_reply(FRIEND)
    assert json.loads(exchange["context"]) == [{"role": "user", "content": "are you free this weekend"}]
    assert fake_ilink.texts_to(FRIEND) == _lines(exchange["reply"]), "answered as text, one message per line"
    assert {c.body["msg"]["context_token"] for c in fake_ilink.sent(FRIEND)} == {"ctx-spoken"}
    assert running.bridge.store.inbox_rows()[0]["kind"] == "voice"
    assert running.bridge.store.skipped_counts() == {"voice": 1}, "the voice without a transcript is not answered"


def test_the_owner_picks_ab_candidates_and_labels_through_the_bot(fake_ilink, run_weixin, twin_server):
    owner = fake_ilink.owner_id
    running = run_weixin(temperature=1.0)
    fake_ilink.text(owner, "/ab", context_token="ctx-owner")
    wait_for(lambda: running.bridge.store.skipped_counts().get("owner") == 1, what="the /ab command")
    fake_ilink.text(FRIEND, "what should we eat")
    review = wait_for(lambda: fake_ilink.texts_to(owner), what="the two candidates for the owner")[-1]
    assert "1: " in review and "2: " in review
    assert fake_ilink.texts_to(FRIEND) == [], "friends never see the A/B"
    assert {c.body["msg"]["context_token"] for c in fake_ilink.sent(owner)} == {"ctx-owner"}

    fake_ilink.text(owner, "2")
    wait_for(lambda: running.statuses() == ["answered"], what="the chosen reply")  # after its last line
    pair = running.bridge.feedback.preference_pairs()[0]
    assert pair["prompt"] == [{"role": "user", "content": "what should we eat"}]
    assert fake_ilink.texts_to(FRIEND) == _lines(pair["chosen"])
    fake_ilink.text(owner, "不好")
    wait_for(lambda: running.bridge.feedback.unpaired_labels(), what="the label")
    assert running.bridge.feedback.unpaired_labels()[0]["completion"] == pair["chosen"]
    assert running.bridge.feedback.unpaired_labels()[0]["label"] is False
    assert running.statuses() == ["answered"]


def test_a_stale_token_pauses_for_a_new_scan_and_the_queue_survives(fake_ilink, run_weixin, twin_server):
    owner = fake_ilink.owner_id
    running = run_weixin()
    fake_ilink.text(owner, "/pause")
    wait_for(lambda: fake_ilink.texts_to(owner) == ["分身已暂停：新消息先存着，发 /resume 再回"], what="the pause")
    fake_ilink.text(FRIEND, "still up?", context_token="ctx-late")
    wait_for(lambda: running.statuses() == ["pending"], what="the queued message")
    fake_ilink.login_script = [["scaned", "confirmed"]]
    fake_ilink.expire_tokens()  # the next poll answers -14

    wait_for(lambda: len(fake_ilink.qr_keys) == 2, what="a new QR code")
    assert any("-14" in line for line in running.said)
    fake_ilink.text(owner, "/resume")
    wait_for(lambda: running.statuses() == ["answered"], what="the queued message answered")  # after its last line
    assert fake_ilink.texts_to(FRIEND)
    assert {c.token for c in fake_ilink.sent(FRIEND)} == {"tok-2"}, "sent with the new login's token"
    assert {c.body["msg"]["context_token"] for c in fake_ilink.sent(FRIEND)} == {"ctx-late"}
    assert running.error is None


def test_while_our_api_is_down_the_message_waits_then_is_answered(fake_ilink, run_weixin, twin_server):
    port = free_port()
    running = run_weixin(api_base=f"http://127.0.0.1:{port}/v1", api_key=twin_server.api_key)
    fake_ilink.text(FRIEND, "you there?", context_token="ctx-wait")
    wait_for(lambda: running.statuses() == ["pending"], what="the queued message")
    time.sleep(1.0)  # the answer loop tries the API about 20 times meanwhile
    assert running.statuses() == ["pending"] and fake_ilink.sent(FRIEND) == []
    with forwarding(port, twin_server.root_url):
        wait_for(lambda: running.statuses() == ["answered"], what="the answer once the API is up")
    assert fake_ilink.texts_to(FRIEND) == _lines(running.bridge.feedback.last_reply(FRIEND)["reply"])
    assert {c.body["msg"]["context_token"] for c in fake_ilink.sent(FRIEND)} == {"ctx-wait"}
