"""Cut chats into sessions, sessions into turns, and turns into training windows.

A session ends where the chat falls silent for longer than the gap, so one sample never glues
Monday's question to Friday's answer. A turn is a burst of consecutive messages from one side,
joined by "\\n": the bridge splits replies on "\\n", so the burst style survives both ways. A sample
starts with the other person and ends with the owner: the owner's opening messages have nothing
to answer and trailing messages nothing to learn, so both are trimmed (and counted).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from wechat_twin.training.formats.support.table import display_name

USER = "user"
ASSISTANT = "assistant"
UNKNOWN_SPEAKER = "(unknown)"


@dataclass(slots=True)
class Turn:
    role: str
    text: str
    messages: int
    tokens: int
    may_identify: bool = True  # False: the privacy filter has nothing to find in `text`


@dataclass(slots=True)
class Window:
    """One sample's turns, with the totals the report needs."""

    turns: list[Turn]
    messages: int = 0
    tokens: int = 0

    def add(self, user: Turn, assistant: Turn) -> None:
        self.turns += (user, assistant)
        self.messages += user.messages + assistant.messages
        self.tokens += user.tokens + assistant.tokens


@dataclass(frozen=True)
class Limits:
    max_turns: int = 24
    max_tokens: int = 1024
    system_tokens: int = 0


def session_starts(gap: float) -> pl.Expr:
    """True on each message that opens a session: a new chat, or more than `gap` seconds of silence
    (exactly `gap` still continues it). The rhythm (`rhythm.py`) cuts its sessions with the same rule."""
    chat, ts = pl.col("chat_id"), pl.col("timestamp")
    return ((chat != chat.shift(1)) | (ts.diff() > gap)).fill_null(True)


def turn_table(messages: pl.DataFrame, gap: float) -> pl.DataFrame:
    """One row per turn, in order: `chat_id`, `session` (a number, counting across chats), `is_me`,
    `text` (the burst's lines joined by "\\n"), `messages`, `start` and `end` (its first and last message's time).

    `messages` holds kept messages sorted by chat, then time, and says per message whether its
    chat is a group (`in_group`): there every line from others carries its speaker's name. A
    silence of exactly `gap` seconds still continues the session.
    """
    chat, is_me, ts = pl.col("chat_id"), pl.col("is_me"), pl.col("timestamp")
    new_session = session_starts(gap)
    speaker = pl.when(display_name() != "").then(display_name()).otherwise(pl.lit(UNKNOWN_SPEAKER))
    named = pl.when(pl.col("in_group") & ~is_me).then(pl.concat_str(speaker, pl.lit(": "), "text")).otherwise("text")
    line = named if messages["in_group"].any() else pl.col("text")
    framed = messages.with_columns(session=new_session.cum_sum(), line=line)
    new_turn = ((pl.col("session") != pl.col("session").shift(1)) | (is_me != is_me.shift(1))).fill_null(True)
    return (
        framed.with_columns(turn=new_turn.cum_sum().set_sorted())  # a running count: sorted, and saying so is faster
        .group_by("turn", maintain_order=True)
        .agg(
            chat.first(),
            pl.col("session").first(),
            is_me.first(),
            pl.col("line").alias("text"),  # a list, joined below: several times faster than str.join here
            pl.len().alias("messages"),
            ts.first().alias("start"),
            ts.last().alias("end"),
        )
        .with_columns(pl.col("text").list.join("\n"))
        .drop("turn")
    )


def turn_objects(
    table: pl.DataFrame, count_tokens: Callable[[str], int] | pl.Expr, may_identify: pl.Expr = pl.lit(True)
) -> list[Turn]:
    """The turn table's rows as `Turn`s, tokens counted (per text, or natively by an expression over
    `text`): what windowing walks through. `may_identify` (over `text`) marks the turns the privacy
    filter has to look at."""
    texts = table["text"].to_list()
    roles = [ASSISTANT if is_me else USER for is_me in table["is_me"].to_list()]
    native = {"tokens": count_tokens} if isinstance(count_tokens, pl.Expr) else {}
    columns = table.with_columns(may_identify=may_identify, **native)
    tokens = columns["tokens"].to_list() if native else map(count_tokens, texts)
    return list(map(Turn, roles, texts, table["messages"].to_list(), tokens, columns["may_identify"].to_list()))


def samples_of(turns: list[Turn], limits: Limits) -> tuple[list[Window], dict[str, int]]:
    """Windows of user/assistant pairs within the budget, and the messages left out, by reason."""
    is_me = [t.role == ASSISTANT for t in turns]
    spans, dropped = windows_of(is_me, [t.tokens for t in turns], [t.messages for t in turns], 0, len(turns), limits)
    windows = [Window([turn for i in pairs for turn in turns[i : i + 2]], m, n) for pairs, m, n in spans]
    return windows, dropped


Span = tuple[list[int], int, int]  # a window: where each of its pairs starts, its messages, its tokens


def windows_of(
    is_me: Sequence[bool], tokens: Sequence[int], messages: Sequence[int], lo: int, hi: int, limits: Limits
) -> tuple[list[Span], dict[str, int]]:
    """`samples_of` over one session, turns `lo` to `hi` of flat per-turn columns (turns alternate
    sides): the import windows every session this way, with no object per turn or window. A window's
    pair starting at turn i holds turns i (the other person) and i + 1 (the owner)."""
    dropped: dict[str, int] = {}
    if not any(is_me[lo:hi]):
        dropped["session_without_owner"] = sum(messages[lo:hi])
        return [], dropped
    start = lo + 1 if is_me[lo] else lo
    end = hi if is_me[hi - 1] else hi - 1
    if start > lo:
        dropped["owner_opening"] = messages[lo]
    if end < hi:
        dropped["unanswered"] = messages[hi - 1]
    budget = limits.max_tokens - limits.system_tokens
    windows: list[Span] = []
    pairs: list[int] = []
    window_messages = window_tokens = 0
    for i in range(start, end, 2):
        cost = tokens[i] + tokens[i + 1]
        if cost > budget:
            dropped["over_token_budget"] = dropped.get("over_token_budget", 0) + messages[i] + messages[i + 1]
            continue
        if pairs and (window_tokens + cost > budget or 2 * len(pairs) + 2 > limits.max_turns):
            windows.append((pairs, window_messages, window_tokens))
            pairs, window_messages, window_tokens = [], 0, 0
        pairs.append(i)
        window_messages += messages[i] + messages[i + 1]
        window_tokens += cost
    if pairs:
        windows.append((pairs, window_messages, window_tokens))
    return windows, dropped
