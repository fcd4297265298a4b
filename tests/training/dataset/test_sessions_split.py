"""Sessions (gaps), turns (bursts), samples (windows, trimming) and the train/dev split by time."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from wechat_twin.training.dataset.sessions import ASSISTANT, USER, Limits, Turn, samples_of, turn_objects, turn_table
from wechat_twin.training.dataset.split import split_by_time
from wechat_twin.training.dataset.tokens import estimate
from wechat_twin.training.formats.support.message import Message
from wechat_twin.training.formats.support.table import from_messages


def m(ts: float, is_me: bool, text: str = "x", sender: str = "ann", chat: str = "c") -> Message:
    return Message(chat, chat, sender, sender, is_me, ts, text)


def turns_of(messages: list[Message], in_group: bool = False, gap: float = 3600) -> pl.DataFrame:
    return turn_table(from_messages(messages).with_columns(in_group=pl.lit(in_group)), gap)


def test_a_gap_of_exactly_the_threshold_continues_the_session():
    table = turns_of([m(0, False), m(3600, True), m(7201, False), m(7202, True)])
    sessions = table.group_by("session", maintain_order=True).agg("start")["start"].to_list()
    assert sessions == [[0, 3600], [7201, 7202]]


def test_a_new_chat_starts_a_new_session_and_turn():
    table = turns_of([m(0, False), m(1, True), m(2, True, chat="d"), m(3, False, chat="d")])
    assert table.select("chat_id", "session", "is_me").rows() == [
        ("c", 1, False),
        ("c", 1, True),
        ("d", 2, True),
        ("d", 2, False),
    ]


def test_a_conversation_across_midnight_stays_one_session():
    midnight = 1710000000 - 1710000000 % 86400 + 16 * 3600  # 00:00 in Shanghai
    messages = [m(midnight - 600, False), m(midnight - 60, True), m(midnight + 120, False), m(midnight + 300, True)]
    assert turns_of(messages)["session"].n_unique() == 1


def test_bursts_become_turns_joined_by_newlines():
    session = [
        m(0, False, "在吗"),
        m(1, False, "有空吗"),
        m(2, True, "在~"),
        m(3, True, "咋了 [旺柴]"),
        m(4, False, "ok"),
    ]
    found = turn_objects(turns_of(session), estimate)
    assert [(t.role, t.text, t.messages) for t in found] == [
        (USER, "在吗\n有空吗", 2),
        (ASSISTANT, "在~\n咋了 [旺柴]", 2),
        (USER, "ok", 1),
    ]


def test_group_turns_name_each_other_speaker():
    session = [m(0, False, "打球吗", "阿强"), m(1, False, "去", "Sunny"), m(2, False, "+1", ""), m(3, True, "go~")]
    (user, assistant) = turn_objects(turns_of(session, in_group=True), estimate)
    assert user.text == "阿强: 打球吗\nSunny: 去\n(unknown): +1"
    assert assistant.text == "go~"


def turn(role: str, tokens: int = 10, messages: int = 1) -> Turn:
    return Turn(role, role, messages, tokens)


def test_samples_start_with_the_other_side_and_end_with_the_owner():
    turns = [turn(ASSISTANT, messages=2), turn(USER), turn(ASSISTANT), turn(USER, messages=3)]
    windows, dropped = samples_of(turns, Limits())
    assert [[t.role for t in w.turns] for w in windows] == [[USER, ASSISTANT]]
    assert dropped == {"owner_opening": 2, "unanswered": 3}


def test_sessions_without_an_owner_turn_are_dropped():
    windows, dropped = samples_of([turn(USER, messages=4)], Limits())
    assert windows == [] and dropped == {"session_without_owner": 4}


def test_long_sessions_are_windowed_by_turns_and_tokens():
    turns = [turn(USER if i % 2 == 0 else ASSISTANT) for i in range(10)]
    by_turns, _ = samples_of(turns, Limits(max_turns=4, max_tokens=10_000))
    assert [len(w.turns) for w in by_turns] == [4, 4, 2]
    by_tokens, _ = samples_of(turns, Limits(max_turns=100, max_tokens=70, system_tokens=10))
    assert [w.tokens for w in by_tokens] == [60, 40]
    assert all(w.turns[0].role == USER and w.turns[-1].role == ASSISTANT for w in by_tokens)


def test_a_pair_over_the_budget_is_dropped_and_counted():
    turns = [turn(USER, 10), turn(ASSISTANT, 10), turn(USER, 500, 3), turn(ASSISTANT, 10, 2)]
    windows, dropped = samples_of(turns, Limits(max_tokens=100))
    assert len(windows) == 1 and dropped == {"over_token_budget": 5}


def test_token_estimate():
    assert estimate("abcd") == 1 + 4
    assert estimate("你好abcd") == 2 + 1 + 4


@dataclass
class S:
    chat: str
    start: float


def test_latest_sessions_of_each_chat_go_to_dev():
    sessions = [S("a", t) for t in (5, 1, 3, 2, 4, 6, 7, 8, 9, 10)] + [S("b", t) for t in range(10)] + [S("c", 0)]
    train, dev = split_by_time(sessions, 0.1)
    assert sorted((s.chat, s.start) for s in dev) == [("a", 10), ("b", 9)]
    assert len(train) + len(dev) == len(sessions)
    assert not {id(s) for s in train} & {id(s) for s in dev}
    again = split_by_time(list(reversed(sessions)), 0.1)[1]
    assert sorted((s.chat, s.start) for s in again) == [("a", 10), ("b", 9)]


def test_small_chats_share_the_dev_fraction_and_keep_a_training_session():
    sessions = [S(chat, t) for chat in "abcdefghij" for t in range(3)]
    train, dev = split_by_time(sessions, 0.1)
    assert len(dev) == 3  # round(30 * 0.1), given to the chats with the largest remainders
    assert all(any(s.chat == d.chat for s in train) for d in dev)
    assert all(d.start == 2 for d in dev)
    assert split_by_time([S("a", 0)], 0.5) == ([S("a", 0)], [])
