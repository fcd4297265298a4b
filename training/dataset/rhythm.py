"""The owner's rhythm, measured from their one-to-one sessions: how long they take, how they burst, what they leave.

The bridge replays it (`bridge/rhythm.py`), so a clone answers at the owner's pace instead of within seconds:
- reply latency: from a friend's last message of a turn to the owner's first reply in the same session,
  as quantiles per hour-of-day band of the friend's message, and per contact where a contact has
  `MIN_CONTACT_REPLIES` replies; a band with fewer than `MIN_BAND_REPLIES` falls back to the whole;
- bursts: messages per owner turn, and the gap before each further message of a turn per character of
  that message (typing speed plus hesitation, which the bridge scales by each bubble's length);
- no reply: the share of friend turns the owner left unanswered within the session.

Sessions are the dataset's (the same gap rule, `sessions.session_starts`), so the split that keeps the
dev sessions out of training keeps them out of the rhythm too, and a bench can compare the two.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from wechat_twin.rhythm import (
    HOUR_BANDS,
    MIN_BAND_REPLIES,
    MIN_CONTACT_REPLIES,
    QUANTILE_POINTS,
    band_name,
    contact_key,
)
from wechat_twin.training.dataset.sessions import session_starts

MAX_TURN_MESSAGES = 8  # longer turns are counted as this many ("8+" in the report)


@dataclass(frozen=True)
class RhythmEvents:
    """What was observed, one row per event: `replies` (one per friend turn: `chat_id`, `session`, `hour`,
    `latency` or null when unanswered, `reply_chars` of the owner's first message), `turns` (one per owner
    turn: `session`, `messages`) and `gaps` (one per further owner message of a turn: `session`, `gap`,
    `chars`)."""

    replies: pl.DataFrame
    turns: pl.DataFrame
    gaps: pl.DataFrame

    def sessions(self, numbers: Iterable[int], keep: bool = True) -> RhythmEvents:
        """Only the events of these sessions (`keep`), or of every other session."""
        wanted = pl.col("session").is_in(pl.Series(list(numbers), dtype=pl.Int64))
        chosen = wanted if keep else ~wanted
        return RhythmEvents(self.replies.filter(chosen), self.turns.filter(chosen), self.gaps.filter(chosen))

    def latencies(self) -> list[float]:
        return self.replies["latency"].drop_nulls().to_list()


def events(messages: pl.DataFrame, gap: float, timezone: str) -> RhythmEvents:
    """From the kept messages sorted by chat, then time (with `in_group`), as the sessions are cut from them."""
    ts, is_me, session = pl.col("timestamp"), pl.col("is_me"), pl.col("session")
    numbered = messages.select("chat_id", "is_me", "timestamp", "text", "in_group").with_columns(
        session=session_starts(gap).cum_sum().cast(pl.Int64), chars=pl.col("text").str.len_chars()
    )
    alone = numbered.filter(~pl.col("in_group"))
    new_turn = ((session != session.shift(1)) | (is_me != is_me.shift(1))).fill_null(True)
    alone = alone.with_columns(turn=new_turn.cum_sum())
    turns = alone.group_by("turn", maintain_order=True).agg(
        pl.col("chat_id").first(),
        session.first(),
        is_me.first(),
        ts.first().alias("start"),
        ts.last().alias("end"),
        pl.len().alias("messages"),
        pl.col("chars").first().alias("first_chars"),
    )
    follows = pl.col("session").shift(-1) == session
    local = pl.from_epoch(pl.col("end").cast(pl.Int64), time_unit="s").dt.replace_time_zone("UTC")
    replies = (
        turns.with_columns(
            latency=pl.when(follows).then(pl.col("start").shift(-1) - pl.col("end")),
            reply_chars=pl.when(follows).then(pl.col("first_chars").shift(-1)),
            hour=local.dt.convert_time_zone(timezone).dt.hour().cast(pl.Int64),
        )
        .filter(~is_me)
        .select("chat_id", "session", "hour", "latency", "reply_chars")
    )
    owner_turns = turns.filter(is_me).select("session", "messages")
    same_turn = pl.col("turn") == pl.col("turn").shift(1)
    gaps = (
        alone.filter(is_me)
        .with_columns(gap=pl.when(same_turn).then(ts - ts.shift(1)))
        .filter(pl.col("gap").is_not_null())
        .select("session", "gap", "chars")
    )
    return RhythmEvents(replies, owner_turns, gaps)


def quantiles(values: list[float]) -> list[float]:
    """`QUANTILE_POINTS` evenly spaced quantiles (linear between order statistics), rounded to 0.1 s."""
    ordered = sorted(values)
    last = len(ordered) - 1
    points = []
    for i in range(QUANTILE_POINTS):
        position = i / (QUANTILE_POINTS - 1) * last
        low = math.floor(position)
        high = min(low + 1, last)
        value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
        points.append(round(value, 1 if value >= 1 else 3))
    return points


_BAND_OF_HOUR = [band_name(hour) for hour in range(24)]  # looked up per reply: a list index, not a loop


def _latency(rows: list[tuple[int, float]]) -> dict[str, Any]:
    """`{replies, all, bands}`: quantiles over all replies, and per band that has enough of them."""
    by_band: dict[str, list[float]] = {}
    for hour, latency in rows:
        by_band.setdefault(_BAND_OF_HOUR[hour], []).append(latency)
    bands = {
        f"{start}-{end}": quantiles(by_band[name])
        for start, end in HOUR_BANDS
        if len(by_band.get(name := f"{start}-{end}", [])) >= MIN_BAND_REPLIES
    }
    return {"replies": len(rows), "all": quantiles([latency for _, latency in rows]), "bands": bands}


def measure(observed: RhythmEvents, names: Mapping[str, Iterable[str]]) -> dict[str, Any] | None:
    """The rhythm `report.json` and `twin.json` carry; None when the owner never replied in a one-to-one chat.
    `names` gives each chat id the names a contact may be known by (its id, its name in the export)."""
    replied = observed.replies.filter(pl.col("latency").is_not_null())
    if replied.height == 0:
        return None
    rows = list(zip(replied["hour"].to_list(), replied["latency"].to_list(), strict=True))
    contacts = []
    for (chat_id,), part in replied.group_by("chat_id", maintain_order=True):
        if part.height >= MIN_CONTACT_REPLIES:
            keys = sorted({contact_key(name) for name in names.get(chat_id, (chat_id,)) if name})
            contacts.append({"keys": keys, **_latency(list(zip(part["hour"], part["latency"], strict=True)))})
    counts = observed.turns["messages"].clip(upper_bound=MAX_TURN_MESSAGES).value_counts().sort("messages")
    total_turns = observed.turns.height
    per_char = [gap / max(chars, 1) for gap, chars in observed.gaps.select("gap", "chars").iter_rows()]
    friend_turns = observed.replies.height
    return {
        "latency_s": {**_latency(rows), "contacts": contacts},
        "turn_messages": {
            (f"{n}+" if n == MAX_TURN_MESSAGES else str(n)): round(c / total_turns, 4) for n, c in counts.iter_rows()
        },
        "gap_s_per_char": quantiles(per_char) if per_char else [],
        "no_reply_rate": round((friend_turns - replied.height) / friend_turns, 4),
        "friend_turns": friend_turns,
    }


def summary_line(rhythm: Mapping[str, Any] | None) -> str:
    """One line for `twin-train data`'s summary."""
    if not rhythm:
        return "rhythm: no one-to-one replies to measure"
    latency = rhythm["latency_s"]
    median = latency["all"][(QUANTILE_POINTS - 1) // 2]
    return (
        f"rhythm: {latency['replies']:,} replies, median {median:g} s, {len(latency['bands'])} hour bands, "
        f"{len(latency['contacts'])} contacts of their own; no reply {rhythm['no_reply_rate']:.0%}"
    )
