"""The bridge end to end: itchat's message dicts in, a real server and a real SQLite file behind."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from datetime import date, datetime
from datetime import time as dt_time

import pytest
from typer.testing import CliRunner

from tests.bridge.conftest import friend_message, group_message, owner_message
from tests.support.server_process import free_port
from wechat_twin.bridge.cli import app
from wechat_twin.bridge.store import BridgeStore, InboxStatus
from wechat_twin.feedback.store import FeedbackStore


def _lines(reply: str) -> list[str]:
    return [line.strip() for line in reply.split("\n") if line.strip()]


def _today_at(hour: int, minute: int) -> float:
    return datetime.combine(date.today(), dt_time(hour, minute)).timestamp()


def test_one_to_one_message_is_answered_and_recorded(make_bridge):
    h = make_bridge()
    h.receive(friend_message("hey, dinner tonight?"))
    assert h.bridge.process_pending() == 1
    sent = h.channel.to("@friend01")
    assert sent and all(line and "\n" not in line for line in sent)
    exchange = h.bridge.feedback.last_reply("@friend01")
    assert exchange["adapter"] == "alice"
    assert exchange["base_model"] == "SmolLM2-135M-Instruct"
    assert json.loads(exchange["context"])[-1] == {"role": "user", "content": "hey, dinner tonight?"}
    assert [line.strip() for line in exchange["reply"].split("\n") if line.strip()] == sent
    assert stat.S_IMODE(os.stat(h.config.database).st_mode) == 0o600


def test_burst_becomes_one_turn_and_memory_carries_on(make_bridge):
    h = make_bridge()
    mia = {"remark": "Mia"}  # `/reset` takes the remark or id: a nickname is the friend's to choose
    h.receive(friend_message("are you free", **mia))
    h.receive(friend_message("this weekend?", **mia))
    h.bridge.process_pending()
    h.receive(friend_message("ok cool", **mia))
    h.bridge.process_pending()
    context = json.loads(h.bridge.feedback.last_reply("@friend01")["context"])
    assert context[0] == {"role": "user", "content": "are you free\nthis weekend?"}
    assert context[1]["role"] == "assistant"
    assert context[2] == {"role": "user", "content": "ok cool"}
    h.receive(owner_message("/reset Mia"))
    h.receive(friend_message("new topic", **mia))
    h.bridge.process_pending()
    context = json.loads(h.bridge.feedback.last_reply("@friend01")["context"])
    assert context == [{"role": "user", "content": "new topic"}]


def test_groups_answer_only_when_mentioned(make_bridge):
    h = make_bridge()
    h.receive(group_message("anyone up for hotpot", at=False))
    h.bridge.process_pending()
    assert h.channel.to("@@room01") == []
    h.receive(group_message("@Jay hotpot?", at=True))
    h.bridge.process_pending()
    exchange = h.bridge.feedback.last_reply("@@room01")
    assert json.loads(exchange["context"]) == [{"role": "user", "content": "@Jay hotpot?"}]
    assert h.channel.to("@@room01") == _lines(exchange["reply"]) != []


def test_group_override_answers_everything(make_bridge):
    h = make_bridge(group_overrides={"Family": True})
    h.receive(group_message("dinner at 7", at=False, room="@@renamed", room_name="Family"))  # a name, not a remark
    h.receive(group_message("dinner at 7", at=False, remark="Family"))
    h.bridge.process_pending()
    assert h.channel.to("@@renamed") == []
    h.bridge.process_pending()
    assert h.channel.to("@@room01") == _lines(h.bridge.feedback.last_reply("@@room01")["reply"]) != []


def test_never_answers_deny_list_self_official_or_filehelper(make_bridge):
    h = make_bridge(deny=["Boss"])
    h.receive(friend_message("report due?", user="@boss", nick="Big B", remark="Boss"))
    h.receive(friend_message("news", user="gh_abc123", nick="Daily News"))
    own = friend_message("note to self")
    own["FromUserName"], own["ToUserName"] = "@self0001", "@friend01"
    h.receive(own)
    h.bridge.process_pending()
    assert h.channel.sent == []
    assert h.bridge.store.inbox_rows() == []


def test_rate_limit_defers_instead_of_dropping(make_bridge):
    h = make_bridge(replies_per_minute=1)
    h.receive(friend_message("one"))
    h.bridge.process_pending()
    h.receive(friend_message("two"))
    h.bridge.process_pending()
    assert [r["status"] for r in h.bridge.store.inbox_rows()] == ["answered", "pending"]
    h.bridge.process_pending(now=time.time() + 61)
    assert [r["status"] for r in h.bridge.store.inbox_rows()] == ["answered", "answered"]


def test_owner_pauses_and_resumes(make_bridge):
    h = make_bridge()
    h.receive(owner_message("/pause"))
    h.receive(friend_message("hello?"))
    h.bridge.process_pending()
    assert h.channel.to("@friend01") == []
    h.receive(owner_message("/resume"))
    h.bridge.process_pending()
    assert h.channel.to("@friend01")
    assert any("已暂停" in text for text in h.channel.to("filehelper"))


def test_reply_is_split_into_messages_with_typing_delays(make_bridge):
    h = make_bridge(typing_seconds_per_char=0.1, typing_max_seconds=0.5)
    delays = []
    h.bridge.sleep = delays.append
    h.bridge._deliver("@friend01", "ok~\n\nsee you [旺柴]\n")
    assert h.channel.to("@friend01") == ["ok~", "see you [旺柴]"]
    assert delays == [0.1 * len("ok~"), 0.5]


def test_dpo_choice_goes_through_the_owner_and_exports(make_bridge, tmp_path, feedback_location):
    """On either feedback database: the default SQLite file in the data folder, or PostgreSQL (`feedback_db`)."""
    h = make_bridge(temperature=1.0, feedback_db=str(feedback_location))
    h.receive(owner_message("/ab"))
    h.receive(friend_message("what should we eat"))
    h.bridge.process_pending()
    assert h.channel.to("@friend01") == [], "friends never see the A/B"
    review = h.channel.to("filehelper")[-1]
    assert "1: " in review and "2: " in review
    h.receive(owner_message("2"))
    pairs = h.bridge.feedback.preference_pairs()
    assert len(pairs) == 1
    assert pairs[0]["prompt"] == [{"role": "user", "content": "what should we eat"}]
    chosen_lines = [line.strip() for line in pairs[0]["chosen"].split("\n") if line.strip()]
    assert h.channel.to("@friend01") == chosen_lines
    assert h.bridge.store.history("@friend01", 0, 10)[-1] == {"role": "assistant", "content": pairs[0]["chosen"]}
    h.receive(friend_message("ok!"))
    h.bridge.process_pending()
    h.receive(owner_message("不好"))
    labels = h.bridge.feedback.unpaired_labels()
    assert len(labels) == 1 and labels[0]["label"] is False
    out = tmp_path / "export"
    result = CliRunner().invoke(app, ["export-feedback", "--db", str(h.config.database), "--out", str(out)])
    assert result.exit_code == 0, result.output
    preference = [json.loads(line) for line in (out / "preference.jsonl").read_text().splitlines()]
    unpaired = [json.loads(line) for line in (out / "unpaired.jsonl").read_text().splitlines()]
    assert preference[0]["prompt"] == [{"role": "user", "content": "what should we eat"}]
    assert preference[0]["chosen"] == pairs[0]["chosen"] and preference[0]["rejected"] == pairs[0]["rejected"]
    later = json.loads(h.bridge.feedback.last_reply("@friend01")["context"])
    assert later[0]["content"] == "what should we eat" and later[-1] == {"role": "user", "content": "ok!"}
    assert unpaired[0]["prompt"] == later, "the exact messages sent for the labelled reply"
    assert unpaired[0]["completion"] == labels[0]["completion"] and unpaired[0]["label"] is False
    assert stat.S_IMODE(os.stat(out / "preference.jsonl").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out / "unpaired.jsonl").st_mode) == 0o600


def test_a_pending_ab_choice_survives_a_bridge_restart(make_bridge, feedback_location):
    h = make_bridge(temperature=1.0, feedback_db=str(feedback_location))
    h.receive(owner_message("/ab"))
    h.receive(friend_message("movie tonight?"))
    h.bridge.process_pending()
    h.bridge.close()
    restarted = make_bridge(data_dir=h.config.data_dir, feedback_db=h.config.feedback_db)
    assert restarted.bridge.process_pending() == 0, "the message waits for the owner's choice, it is not re-asked"
    restarted.receive(owner_message("1"))
    chosen = restarted.bridge.feedback.preference_pairs()[0]["chosen"]
    assert restarted.channel.to("@friend01") == [line.strip() for line in chosen.split("\n") if line.strip()]
    assert [r["status"] for r in restarted.bridge.store.inbox_rows()] == ["answered"]


def test_friend_feedback_words_are_not_answered_when_friends_may_label(make_bridge):
    h = make_bridge(feedback_from="friends")
    h.receive(friend_message("hi"))
    h.bridge.process_pending()
    before = len(h.channel.sent)
    h.receive(friend_message("不错"))
    h.bridge.process_pending()
    assert len(h.channel.sent) == before
    assert h.bridge.feedback.unpaired_labels()[0]["label"] is True


def test_api_down_then_back_loses_nothing_keeps_order_no_duplicates(make_bridge):
    h = make_bridge(api_base=f"http://127.0.0.1:{free_port()}/v1")
    first, second = friend_message("first", user="@a", nick="A"), friend_message("second", user="@b", nick="B")
    for msg in (first, second):
        h.receive(msg)
    assert h.bridge.process_pending() == 0
    assert [r["status"] for r in h.bridge.store.inbox_rows()] == ["pending", "pending"]
    h.bridge.close()
    server = make_bridge(data_dir=h.config.data_dir)  # the restarted bridge, same files, API back
    server.receive(first)
    server.receive(second)
    assert len(server.bridge.store.inbox_rows()) == 2, "re-delivered messages are not queued twice"
    assert server.bridge.process_pending() == 2
    assert [r["status"] for r in server.bridge.store.inbox_rows()] == ["answered", "answered"]
    assert server.channel.sent[0][0] == "@a", "answered in arrival order"
    assert server.bridge.process_pending() == 0, "nothing is answered twice"
    assert server.bridge.feedback.last_reply("@a")["id"] < server.bridge.feedback.last_reply("@b")["id"]


def test_past_the_deadline_the_fallback_is_sent(make_bridge):
    h = make_bridge(api_base=f"http://127.0.0.1:{free_port()}/v1", answer_deadline_s=0, fallback_text="在忙，晚点回")
    h.receive(friend_message("urgent?"))
    h.bridge.process_pending()
    assert h.channel.to("@friend01") == ["在忙，晚点回"]
    assert [r["status"] for r in h.bridge.store.inbox_rows()] == ["fallback"]


def test_console_channel_holds_a_conversation(twin_server, tmp_path):
    lines = "hi there\n/ab\nwhat's for lunch\n!1\n!不错\n"
    config = tmp_path / "bridge.toml"
    config.write_text("max_tokens = 12\ntemperature = 0.7\n")
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--channel",
            "console",
            "--model",
            "bob",
            "--api-base",
            twin_server.base_url,
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path),
            "--no-typing-delay",
        ],
        input=lines,
        env={"TWIN_API_KEY": twin_server.api_key},
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("分身>") >= 2
    assert "[给你看]" in result.output and "1: " in result.output
    exported = CliRunner().invoke(
        app, ["export-feedback", "--db", str(tmp_path / "feedback.db"), "--out", str(tmp_path / "out")]
    )
    assert "1 preference pairs and 1 labels" in exported.output


def test_an_ab_exchange_and_its_waiting_messages_are_stored_together(make_bridge):
    """A crash while the A/B is stored (here: SQLite aborting the inbox update) leaves neither an
    exchange without its messages nor messages that would be asked again beside an old exchange."""
    h = make_bridge(temperature=1.0)
    h.receive(owner_message("/ab"))
    h.receive(friend_message("hotpot?"))
    db = sqlite3.connect(h.config.database)
    db.execute("CREATE TRIGGER crash BEFORE UPDATE OF status ON inbox BEGIN SELECT RAISE(ABORT, 'crash'); END")
    db.commit()
    with pytest.raises(sqlite3.IntegrityError, match="crash"):
        h.bridge.process_pending()
    assert db.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0] == 0
    db.execute("DROP TRIGGER crash")
    db.commit()
    h.bridge.close()
    restarted = make_bridge(data_dir=h.config.data_dir, temperature=1.0, ab_probability=1.0)
    restarted.bridge.process_pending()
    assert db.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0] == 1
    assert [r["status"] for r in restarted.bridge.store.inbox_rows()] == ["review"]


def test_an_answered_message_and_its_memory_are_stored_together(tmp_path):
    store = BridgeStore(FeedbackStore(tmp_path / "feedback.db"))
    store.enqueue("m1", "@friend01", "Mia", "hi", time.time())
    ids = [row["id"] for row in store.pending("@friend01")]
    db = sqlite3.connect(tmp_path / "feedback.db")
    db.execute("CREATE TRIGGER crash BEFORE INSERT ON turns BEGIN SELECT RAISE(ABORT, 'crash'); END")
    db.commit()
    with pytest.raises(sqlite3.IntegrityError, match="crash"):
        store.finish(ids, InboxStatus.ANSWERED, [("@friend01", "user", "hi", time.time())])
    assert [row["status"] for row in store.inbox_rows()] == ["pending"], "still to answer, not marked done"


def test_a_status_outside_the_enum_is_refused_and_nothing_is_written(tmp_path):
    store = BridgeStore(FeedbackStore(tmp_path / "feedback.db"))
    store.enqueue("m1", "@friend01", "Mia", "hi", time.time())
    ids = [row["id"] for row in store.pending("@friend01")]
    with pytest.raises(ValueError, match="answerd"):
        store.finish(ids, "answerd", [("@friend01", "user", "hi", time.time())])
    assert [row["status"] for row in store.inbox_rows()] == ["pending"]
    assert store.history("@friend01", since=0, limit=10) == []


def test_quiet_hours_defer_then_answer(make_bridge):
    h = make_bridge(quiet_hours="22:00-06:00")
    h.receive(friend_message("you awake?"))
    assert h.bridge.process_pending(now=_today_at(23, 30)) == 0
    assert h.bridge.process_pending(now=_today_at(5, 59)) == 0, "the window runs over midnight"
    assert [r["status"] for r in h.bridge.store.inbox_rows()] == ["pending"] and h.channel.sent == []
    assert h.bridge.process_pending(now=_today_at(6, 0)) == 1
    assert [r["status"] for r in h.bridge.store.inbox_rows()] == ["answered"]
    assert h.channel.to("@friend01") == _lines(h.bridge.feedback.last_reply("@friend01")["reply"]) != []


def test_only_the_allow_list_is_answered(make_bridge):
    h = make_bridge(allow=["Tom"])
    h.receive(friend_message("hi from mia"))
    h.receive(friend_message("hi from tom", user="@tom01", nick="Thomas", remark="Tom"))
    h.bridge.process_pending()
    assert h.channel.to("@friend01") == []
    assert h.channel.to("@tom01") != []
    assert [r["chat_id"] for r in h.bridge.store.inbox_rows()] == ["@tom01"]
    assert h.bridge.store.skipped_counts() == {"not on the allow list": 1}


def test_review_replies_sends_the_owner_a_copy_to_label(make_bridge):
    h = make_bridge(review_replies=True)
    h.receive(friend_message("lunch?", remark="Mia"))  # the owner's remark names the friend, never their nickname
    h.bridge.process_pending()
    reply = h.bridge.feedback.last_reply("@friend01")["reply"]
    assert h.channel.to("filehelper") == [f"【Mia】lunch?\n→ {reply}\n（回 不错 或 不好 评价这条回复）"]
    h.receive(owner_message("不错"))
    assert h.bridge.feedback.unpaired_labels()[0]["completion"] == reply


def test_ab_to_friends_lets_the_friend_pick(make_bridge):
    h = make_bridge(temperature=1.0, ab_probability=1.0, ab_to_friends=True, feedback_from="both")
    h.receive(friend_message("which movie"))
    h.bridge.process_pending()
    offer = h.channel.to("@friend01")
    assert len(offer) == 1 and offer[0].startswith("1: ") and "\n2: " in offer[0]
    assert h.channel.to("filehelper") == [], "the owner is not asked"
    h.receive(friend_message("2"))
    pair = h.bridge.feedback.preference_pairs()[0]
    assert offer[0] == f"1: {pair['rejected']}\n2: {pair['chosen']}"
    assert h.channel.to("@friend01")[1:] == _lines(pair["chosen"])
    labeler = sqlite3.connect(h.config.database).execute("SELECT labeler FROM labels").fetchall()
    assert labeler == [("@friend01",)]
