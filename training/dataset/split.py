"""Split sessions into train and dev by time: each chat's latest sessions are its dev sessions.

A random split would put tomorrow's conversation in train and yesterday's in dev, and let the
model see the answer before the question; cutting by time per chat measures what a clone does
next. Shares are apportioned by largest remainder so the whole dev set is the asked fraction
even when every chat is small, and a chat always keeps at least one training session.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol


class Timed(Protocol):
    chat: str
    start: float


def split_by_time(sessions: Sequence[Timed], dev_fraction: float) -> tuple[list[Timed], list[Timed]]:
    """Returns (train, dev); each session lands in exactly one, the result depends only on input."""
    by_chat: dict[str, list[Timed]] = {}
    for session in sessions:
        by_chat.setdefault(session.chat, []).append(session)
    for chat_sessions in by_chat.values():
        chat_sessions.sort(key=lambda s: s.start)

    exact = {chat: len(s) * dev_fraction for chat, s in by_chat.items()}
    quota = {chat: min(math.floor(x), max(len(by_chat[chat]) - 1, 0)) for chat, x in exact.items()}
    wanted = min(round(len(sessions) * dev_fraction), sum(max(len(s) - 1, 0) for s in by_chat.values()))
    by_remainder = sorted(by_chat, key=lambda chat: (-(exact[chat] - quota[chat]), chat))
    total = sum(quota.values())
    while total < wanted:
        for chat in by_remainder:
            if total < wanted and quota[chat] < len(by_chat[chat]) - 1:
                quota[chat] += 1
                total += 1

    train: list[Timed] = []
    dev: list[Timed] = []
    for chat, chat_sessions in by_chat.items():
        cut = len(chat_sessions) - quota[chat]
        train.extend(chat_sessions[:cut])
        dev.extend(chat_sessions[cut:])
    return train, dev
