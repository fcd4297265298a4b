"""A clone with a rhythm on the real test server: a copy of `alice` whose twin.json carries one, loaded at runtime."""

from __future__ import annotations

import itertools
from contextlib import AbstractContextManager
from pathlib import Path

from tests.support.served_copy import served_copy
from wechat_twin.rhythm import QUANTILE_POINTS
from wechat_twin.server.adapters.card import read_card, write_card

_names = itertools.count(1)


def flat_rhythm(latency_s: float, gap_s_per_char: float = 0.0, no_reply_rate: float = 0.0) -> dict:
    """Every draw the same: a latency, a gap per character and the share of turns left unread."""
    return {
        "latency_s": {"replies": 100, "all": [latency_s] * QUANTILE_POINTS, "bands": {}, "contacts": []},
        "turn_messages": {"1": 1.0},
        "gap_s_per_char": [gap_s_per_char] * QUANTILE_POINTS,
        "no_reply_rate": no_reply_rate,
        "friend_turns": 100,
    }


def clone_with_rhythm(server, rhythm: dict) -> AbstractContextManager[str]:
    """The served name of a copy of `alice` with `rhythm` in its card; unloaded and removed afterwards."""

    def add_rhythm(folder: Path) -> None:
        write_card(folder, read_card(folder).model_copy(update={"rhythm": rhythm}))

    return served_copy(server, f"paced-{next(_names)}", add_rhythm)
