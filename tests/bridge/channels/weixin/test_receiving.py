"""The weixin channel's receive and send paths that need no clone: media, failures, refusals, the owner."""

from __future__ import annotations

import itertools
import sqlite3

from tests.bridge.channels.weixin.conftest import FRIEND, wait_for
from tests.support.server_process import free_port
from wechat_twin.bridge.channels.weixin.channel import CURSOR_KEY
from wechat_twin.bridge.channels.weixin.hosts import HostRefused
from wechat_twin.bridge.channels.weixin.login import Credentials, load_credentials, save_credentials
from wechat_twin.bridge.texts import Texts


def _dead_api() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def _logged_in(fake, running) -> None:
    wait_for(lambda: fake.calls_to("getupdates"), what="the first getupdates")


MEDIA = {
    "image": {"type": 2, "image_item": {"media": {"encrypt_query_param": "q1", "aes_key": "a2V5", "encrypt_type": 1}}},
    "voice": {"type": 3, "voice_item": {"encode_type": 6, "playtime": 2100, "text": ""}},
    "file": {"type": 4, "file_item": {"file_name": "menu.pdf", "len": "5120"}},
    "video": {"type": 5, "video_item": {"video_size": 99000, "play_length": 4}},
}


def test_media_items_are_recorded_not_answered_and_counted(fake_ilink, run_weixin):
    running = run_weixin(api_base=_dead_api())
    for kind in ("image", "voice", "file", "video", "image"):
        fake_ilink.push(fake_ilink.user_message(FRIEND, [MEDIA[kind]]))
    wait_for(lambda: sum(running.bridge.store.skipped_counts().values()) == 5, what="five skipped messages")
    assert running.bridge.store.skipped_counts() == {"file": 1, "image": 2, "video": 1, "voice": 1}
    assert running.bridge.store.inbox_rows() == [], "nothing to answer"
    assert fake_ilink.sent(FRIEND) == []


def test_a_voice_with_a_transcript_is_queued_as_the_friends_words_and_one_without_is_skipped(fake_ilink, run_weixin):
    running = run_weixin(api_base=_dead_api())
    spoken = fake_ilink.voice(FRIEND, "今晚一起吃饭吗")
    fake_ilink.voice(FRIEND, "")
    fake_ilink.voice(FRIEND, "  ")
    wait_for(lambda: running.bridge.store.skipped_counts().get("voice") == 2, what="two voices without words")
    rows = running.bridge.store.inbox_rows()
    assert [(r["message_id"], r["text"], r["kind"]) for r in rows] == [
        (str(spoken["message_id"]), "今晚一起吃饭吗", "voice")
    ], "the transcript is the friend's turn, stored as voice"


def test_the_cursor_is_stored_with_the_messages_it_delivered(fake_ilink, run_weixin, tmp_path):
    running = run_weixin(api_base=_dead_api())
    first = fake_ilink.text(FRIEND, "are you there?", context_token="ctx-first")
    wait_for(lambda: running.bridge.store.inbox_rows(), what="the message queued")
    fake_ilink.push(first)  # the same message delivered again
    wait_for(lambda: running.bridge.channel_state(CURSOR_KEY) == {CURSOR_KEY: "cur-2"}, what="the cursor past both")
    rows = running.bridge.store.inbox_rows()
    assert [(r["message_id"], r["chat_id"], r["text"], r["status"]) for r in rows] == [
        (str(first["message_id"]), FRIEND, "are you there?", "pending")
    ], "stored once, the uint64 id exact"
    db = sqlite3.connect(tmp_path / "feedback.db")
    assert dict(db.execute("SELECT key, value FROM channel_state")) == {
        CURSOR_KEY: "cur-2",
        f"weixin.context:{FRIEND}": "ctx-first",
    }


def test_failing_polls_back_off_and_never_end_the_bridge(fake_ilink, run_weixin):
    fake_ilink.fail_updates = 7
    fake_ilink.push(fake_ilink.user_message(FRIEND, [MEDIA["image"]]))
    running = run_weixin(api_base=_dead_api())
    wait_for(lambda: running.bridge.store.skipped_counts().get("image"), what="the message after the failures")
    assert fake_ilink.fail_updates == 0 and running.error is None
    polls = fake_ilink.calls_to("getupdates")[:8]  # seven failures, then the poll that delivered
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(polls)]
    assert [g >= 0.15 for g in gaps] == [False, False, True, False, False, True, False], (
        "every third failure in a row pauses longer (pause_s) than a retry (retry_s)"
    )


def test_a_refused_send_is_retried_with_the_same_client_id_until_taken(fake_ilink, run_weixin):
    running = run_weixin(api_base=_dead_api())
    _logged_in(fake_ilink, running)
    fake_ilink.refuse_sends = 3
    fake_ilink.text(fake_ilink.owner_id, "/pause")
    wait_for(lambda: fake_ilink.sent(fake_ilink.owner_id), what="the owner's confirmation")
    tries = fake_ilink.calls_to("sendmessage")
    assert len(tries) == 4 and len({c.body["msg"]["client_id"] for c in tries}) == 1
    assert fake_ilink.texts_to(fake_ilink.owner_id) == ["分身已暂停：新消息先存着，发 /resume 再回"]
    assert running.bridge.store.skipped_counts() == {"owner": 1}


def test_long_text_is_split_under_the_limit(fake_ilink, run_weixin):
    running = run_weixin(api_base=_dead_api(), weixin={"text_limit": 100})
    _logged_in(fake_ilink, running)
    fake_ilink.text(FRIEND, "hi")
    wait_for(lambda: running.bridge.store.inbox_rows(), what="the friend's context token")
    words = " ".join(f"word{i}" for i in range(60))
    running.channel.send(FRIEND, words)
    pieces = fake_ilink.texts_to(FRIEND)
    assert len(pieces) > 1 and all(len(p) <= 100 for p in pieces)
    assert " ".join(pieces) == words
    assert {c.body["msg"]["context_token"] for c in fake_ilink.sent(FRIEND)} == {
        "ctx-" + str(running.bridge.store.inbox_rows()[0]["message_id"])
    }


def test_without_a_known_owner_the_first_sender_is_confirmed_in_the_terminal(fake_ilink, run_weixin, tmp_path):
    fake_ilink.owner_id = ""  # a login that did not name who scanned
    running = run_weixin(api_base=_dead_api(), owner_answers=[False, True])
    _logged_in(fake_ilink, running)
    fake_ilink.text(FRIEND, "/pause")
    fake_ilink.text("me-55@im.wechat", "/pause")
    wait_for(lambda: fake_ilink.sent("me-55@im.wechat"), what="the new owner's confirmation")
    assert running.bridge.store.skipped_counts() == {"owner": 1}
    assert [r["chat_id"] for r in running.bridge.store.inbox_rows()] == [FRIEND], "the declined one is a friend"
    assert load_credentials(tmp_path).user_id == "me-55@im.wechat", "kept for the next start"


def test_a_burst_goes_out_as_separate_messages_with_typing_pauses(fake_ilink, run_weixin):
    running = run_weixin(api_base=_dead_api(), answer=False, typing_seconds_per_char=0.1, typing_max_seconds=0.3)
    fake_ilink.text(FRIEND, "hi")
    wait_for(lambda: running.bridge.store.inbox_rows(), what="the friend's context token")
    running.channel.typing(FRIEND, True)
    running.bridge._deliver(FRIEND, "ok~\n\nsee you [旺柴]\n")
    running.channel.typing(FRIEND, False)
    assert fake_ilink.texts_to(FRIEND) == ["ok~", "see you [旺柴]"]
    first, second = fake_ilink.sent(FRIEND)
    assert second.at - first.at >= 0.3, "a typing pause (capped at typing_max_seconds) before each message"
    typing = [c.body["status"] for c in fake_ilink.calls_to("sendtyping")]
    assert typing[0] == 1 and typing[-1] == 2


def test_after_a_stale_token_only_the_owner_may_log_the_bot_in_again(fake_ilink, run_weixin, tmp_path):
    """A `-14` re-login used to make whoever confirmed the newest QR code the owner (issue 27)."""
    owner, mallory = fake_ilink.owner_id, "mallory-9@im.wechat"
    running = run_weixin(api_base=_dead_api())
    _logged_in(fake_ilink, running)
    fake_ilink.login_script = [["scaned", "confirmed"]]
    fake_ilink.scanned_by = {"qr-1": mallory}  # the first code of the re-login is confirmed by someone else
    fake_ilink.expire_tokens()
    wait_for(lambda: any(c.token == "tok-3" for c in fake_ilink.calls_to("getupdates")), what="the owner's re-login")
    assert Texts()("not_owner", scanner=mallory, owner=owner) in running.said, "the refusal is reported"
    assert not [c for c in fake_ilink.calls if c.token == "tok-2"], "the token confirmed by another WeChat is unused"
    assert load_credentials(tmp_path).user_id == owner and load_credentials(tmp_path).bot_token == "tok-3"

    fake_ilink.text(mallory, "/pause")
    fake_ilink.text(owner, "/pause")
    wait_for(lambda: fake_ilink.texts_to(owner) == [Texts()("paused")], what="the owner's command")
    assert [r["chat_id"] for r in running.bridge.store.inbox_rows()] == [mallory], "mallory is a friend, not the owner"
    assert running.error is None


def test_a_kept_login_with_an_account_base_off_the_api_domain_is_not_used(fake_ilink, run_weixin, tmp_path):
    kept = Credentials(
        bot_token="tok-old",
        bot_id=fake_ilink.bot_id,
        base_url="http://ilink.attacker.example",
        user_id=fake_ilink.owner_id,
    )
    save_credentials(tmp_path, kept)
    running = run_weixin(api_base=_dead_api())
    wait_for(lambda: running.error, what="the refusal")
    assert isinstance(running.error, HostRefused) and "weixin-login.json" in str(running.error)
    assert fake_ilink.calls == [], "nothing was sent anywhere with the kept token"
