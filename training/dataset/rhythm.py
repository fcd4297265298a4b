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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
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


def quantiles(values: Sequence[float] | np.ndarray) -> list[float]:
    """`QUANTILE_POINTS` evenly spaced quantiles (linear between order statistics), rounded to 0.1 s."""
    return grouped_quantiles(np.asarray(values, dtype=np.float64), np.zeros(len(values), dtype=np.int64))[0][1]


def grouped_quantiles(values: np.ndarray, groups: np.ndarray, min_size: int = 1) -> dict[int, tuple[int, list[float]]]:
    """Each group's size and `quantiles`, for every group of at least `min_size` values at once: one sort and
    array arithmetic instead of a sort and a loop per group. Each point is the same float operations on the
    same order statistics as one group at a time would do (i / (n - 1) * last, then low + (high - low) *
    fraction), and rounded by Python's `round` (the one step left per point, so smaller groups, which
    nothing reports, are left out), so the numbers are the same to the last bit."""
    order = np.lexsort((values, groups))
    ordered, keys = values[order], groups[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    sizes = np.diff(np.append(starts, keys.size))
    reported = sizes >= min_size
    starts, sizes = starts[reported], sizes[reported]
    last = (sizes - 1)[:, None]
    position = (np.arange(QUANTILE_POINTS) / (QUANTILE_POINTS - 1))[None, :] * last
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, last)
    below, above = ordered[starts[:, None] + low], ordered[starts[:, None] + high]
    points = (below + (above - below) * (position - low)).tolist()
    return {
        key: (size, [round(value, 1 if value >= 1 else 3) for value in row])
        for key, size, row in zip(keys[starts].tolist(), sizes.tolist(), points, strict=True)
    }


_BAND_OF_HOUR = np.array([[band_name(hour) for hour, _ in HOUR_BANDS].index(band_name(hour)) for hour in range(24)])


def _latency(total: tuple[int, list[float]], bands: dict[int, tuple[int, list[float]]]) -> dict[str, Any]:
    """`{replies, all, bands}`: quantiles over all replies, and per band (by its index in `HOUR_BANDS`) that
    has enough of them."""
    by_band = {
        f"{start}-{end}": bands[band][1]
        for band, (start, end) in enumerate(HOUR_BANDS)
        if bands.get(band, (0,))[0] >= MIN_BAND_REPLIES
    }
    return {"replies": total[0], "all": total[1], "bands": by_band}


def measure(observed: RhythmEvents, names: Mapping[str, Iterable[str]]) -> dict[str, Any] | None:
    """The rhythm `report.json` and `twin.json` carry; None when the owner never replied in a one-to-one chat.
    `names` gives each chat id the names a contact may be known by (its id, its name in the export).
    Quantiles are made for every contact and band at once (`grouped_quantiles`)."""
    replied = observed.replies.filter(pl.col("latency").is_not_null())
    if replied.height == 0:
        return None
    chat_ids = replied["chat_id"].unique(maintain_order=True)
    contact = replied.join(chat_ids.to_frame().with_row_index("contact"), on="chat_id", maintain_order="left")
    latency = replied["latency"].to_numpy().astype(np.float64)
    band = _BAND_OF_HOUR[replied["hour"].to_numpy()]
    contact_index = contact["contact"].to_numpy().astype(np.int64)
    bands = len(HOUR_BANDS)
    overall = grouped_quantiles(latency, np.zeros(latency.size, dtype=np.int64))[0]
    by_band = grouped_quantiles(latency, band, MIN_BAND_REPLIES)
    by_contact = grouped_quantiles(latency, contact_index, MIN_CONTACT_REPLIES)
    by_contact_band = grouped_quantiles(latency, contact_index * bands + band, MIN_BAND_REPLIES)
    contacts = []
    for index, chat_id in enumerate(chat_ids.to_list()):
        if index in by_contact:
            keys = sorted({contact_key(name) for name in names.get(chat_id, (chat_id,)) if name})
            own_bands = {b: by_contact_band.get(index * bands + b, (0, [])) for b in range(bands)}
            contacts.append({"keys": keys, **_latency(by_contact[index], own_bands)})
    counts = observed.turns["messages"].clip(upper_bound=MAX_TURN_MESSAGES).value_counts().sort("messages")
    total_turns = observed.turns.height
    gaps = observed.gaps
    per_char = gaps["gap"].to_numpy().astype(np.float64) / np.maximum(gaps["chars"].to_numpy(), 1)
    friend_turns = observed.replies.height
    return {
        "latency_s": {**_latency(overall, by_band), "contacts": contacts},
        "turn_messages": {
            (f"{n}+" if n == MAX_TURN_MESSAGES else str(n)): round(c / total_turns, 4) for n, c in counts.iter_rows()
        },
        "gap_s_per_char": quantiles(per_char) if per_char.size else [],
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
