"""The owner's rhythm replayed: how long to wait before a reply, between its bubbles, and when to leave one unread.

`twin-train data` measures it from the export and `twin-train sft` writes it into `twin.json`; the server
shows it in the clone's model card, where the bridge reads it (over HTTP: the bridge imports neither).
Every wait is drawn with one seeded `random.Random`, multiplied by `delay_scale` and capped by
`max_reply_delay_s`. Without a rhythm the bridge keeps its fixed pace: no wait before a reply, and
`typing_seconds_per_char` per character (at most `typing_max_seconds`) before each bubble.

`Timing` is the pure part (what `bench/rhythm.py` replays); `BridgeRhythm` is what the loop holds:
the card fetched once, the latency drawn per waiting contact, and the waits recorded (`waits.py`).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wechat_twin.bridge.config import BridgeConfig
from wechat_twin.bridge.waits import Outcome, WaitLog
from wechat_twin.rhythm import QUANTILE_POINTS, band_name, contact_key

logger = logging.getLogger("wechat_twin.bridge")


@dataclass(frozen=True)
class Quantiles:
    """A distribution of seconds given by its evenly spaced quantiles; drawn by inverting it, linearly between
    quantiles in log(1 + s), so a long tail keeps its shape between two far-apart points."""

    seconds: tuple[float, ...]

    @classmethod
    def parse(cls, values: object) -> Quantiles:
        if not isinstance(values, list) or len(values) != QUANTILE_POINTS:
            raise ValueError(f"expected {QUANTILE_POINTS} quantiles")
        points = tuple(float(v) for v in values)
        if any(b < a for a, b in itertools.pairwise(points)) or points[0] < 0:
            raise ValueError("quantiles must be non-negative and non-decreasing")
        return cls(points)

    def at(self, probability: float) -> float:
        """The quantile function: seconds at `probability` in [0, 1]."""
        position = min(max(probability, 0.0), 1.0) * (len(self.seconds) - 1)
        low = min(int(position), len(self.seconds) - 2)
        a, b = math.log1p(self.seconds[low]), math.log1p(self.seconds[low + 1])
        return math.expm1(a + (b - a) * (position - low))

    def cdf(self, seconds: float) -> float:
        """The share of draws at or below `seconds` (the inverse of `at`)."""
        if seconds < self.seconds[0]:
            return 0.0
        if seconds >= self.seconds[-1]:
            return 1.0
        high = bisect.bisect_right(self.seconds, seconds)
        low = high - 1
        a, b = math.log1p(self.seconds[low]), math.log1p(self.seconds[high])
        within = (math.log1p(seconds) - a) / (b - a) if b > a else 1.0
        return (low + within) / (len(self.seconds) - 1)

    def draw(self, rng: random.Random) -> float:
        return self.at(rng.random())


@dataclass(frozen=True)
class Latencies:
    """Reply latency over every hour, and per hour band where there were enough replies to measure one."""

    whole: Quantiles
    bands: Mapping[str, Quantiles]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Latencies:
        bands = {str(name): Quantiles.parse(values) for name, values in dict(data.get("bands") or {}).items()}
        return cls(Quantiles.parse(data["all"]), bands)

    def at_hour(self, hour: int) -> Quantiles:
        return self.bands.get(band_name(hour), self.whole)


@dataclass(frozen=True)
class Rhythm:
    """`twin.json`'s `rhythm` (docs/bridge.md): what the bridge needs of it."""

    latency: Latencies
    contacts: Mapping[str, Latencies]  # a contact's name or id, hashed (`contact_key`) -> their own latencies
    gap_per_char: Quantiles | None
    no_reply_rate: float

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Rhythm:
        latency = data["latency_s"]
        contacts: dict[str, Latencies] = {}
        for entry in latency.get("contacts") or []:
            own = Latencies.parse(entry)
            contacts.update(dict.fromkeys(entry["keys"], own))
        gaps = data.get("gap_s_per_char") or None
        rate = float(data.get("no_reply_rate") or 0.0)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("no_reply_rate must be in [0, 1]")
        return cls(Latencies.parse(latency), contacts, Quantiles.parse(gaps) if gaps else None, rate)

    @classmethod
    def from_card(cls, card: Mapping[str, Any] | None) -> Rhythm | None:
        """The model card's rhythm; None when it has none or it cannot be read (then the fixed pace)."""
        data = (card or {}).get("rhythm")
        if not data:
            return None
        try:
            return cls.parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("the clone's rhythm cannot be read (%s): replies keep the fixed pace", exc)
            return None

    def latencies(self, names: Sequence[str], hour: int) -> Quantiles:
        """The contact's own distribution when they have one (by any of their names), else the export's."""
        for name in names:
            own = self.contacts.get(contact_key(name)) if name else None
            if own is not None:
                return own.at_hour(hour)
        return self.latency.at_hour(hour)


@dataclass(frozen=True)
class Pacing:
    """The settings every wait goes through (`BridgeConfig`'s fields of the same names)."""

    delay_scale: float = 1.0
    max_reply_delay_s: float = 600.0
    typing_seconds_per_char: float = 0.2
    typing_max_seconds: float = 4.0


class Timing:
    """Draws the waits: before a reply (`latency`), before each bubble (`gap`), and whether to leave a turn unread."""

    def __init__(self, rhythm: Rhythm | None, pacing: Pacing, rng: random.Random) -> None:
        self.rhythm = rhythm
        self.pacing = pacing
        self.rng = rng

    def _scaled(self, seconds: float) -> float:
        return min(seconds * self.pacing.delay_scale, self.pacing.max_reply_delay_s)

    def latency(self, names: Sequence[str], hour: int) -> float | None:
        """Seconds from the friend's last message (at `hour` o'clock) to the first bubble; None without a
        rhythm (no wait)."""
        if self.rhythm is None:
            return None
        return self._scaled(self.rhythm.latencies(names, hour).draw(self.rng))

    def gap(self, line: str, first: bool) -> float:
        """Seconds before a bubble: with a rhythm the latency covers the first one, and each further one waits
        the owner's seconds per character times its length; without one, the fixed typing pause."""
        if self.rhythm is None:
            fixed = min(self.pacing.typing_max_seconds, self.pacing.typing_seconds_per_char * len(line))
            return self._scaled(fixed)
        if first or self.rhythm.gap_per_char is None:
            return 0.0
        return self._scaled(self.rhythm.gap_per_char.draw(self.rng) * len(line))

    def leave_unread(self, left_last_time: bool) -> bool:
        """Read, no reply: at the owner's rate, never twice in a row for one contact."""
        if self.rhythm is None or left_last_time:
            return False
        return self.rng.random() < self.rhythm.no_reply_rate


@dataclass
class Pace:
    """One reply's bubbles: the gap drawn before each, and when each went out."""

    timing: Timing
    clock: Callable[[], float] = time.time
    drawn: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)

    def before(self, line: str) -> float:
        """The wait before this bubble; the caller sleeps it, sends, then calls `sent`."""
        self.drawn.append(self.timing.gap(line, first=not self.drawn))
        return self.drawn[-1]

    def sent(self) -> None:
        self.sent_at.append(self.clock())


def bridge_rhythm(config: BridgeConfig, read_card: Callable[[], Mapping | None], waits: WaitLog) -> BridgeRhythm:
    pacing = Pacing(
        config.delay_scale, config.max_reply_delay_s, config.typing_seconds_per_char, config.typing_max_seconds
    )
    return BridgeRhythm(pacing, config.rhythm_seed, config.no_reply, read_card, waits)


class BridgeRhythm:
    """What the bridge's loop holds: the clone's rhythm (read from its model card once the server answers),
    the latency drawn for each contact waiting for a reply, and the record of every wait."""

    def __init__(
        self,
        pacing: Pacing,
        seed: int | None,
        no_reply: bool,
        read_card: Callable[[], Mapping | None],
        waits: WaitLog,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pacing = pacing
        self.no_reply = no_reply
        self.waits = waits
        self.clock = clock
        self._rng = random.Random(seed)
        self._read_card = read_card
        self._timing: Timing | None = None
        self._drawn: dict[str, float | None] = {}

    def timing(self) -> Timing:
        """The card is read once; while the server cannot be asked, the fixed pace (and it is asked again)."""
        if self._timing is None:
            card = self._read_card()
            if card is None:
                return Timing(None, self.pacing, self._rng)
            self._timing = Timing(Rhythm.from_card(card), self.pacing, self._rng)
        return self._timing

    def wait_left(self, chat_id: str, names: Sequence[str], last_received: float) -> float:
        """Seconds until this contact's reply is due: the latency is drawn once per waiting turn and counted
        from the friend's latest message, so a friend who adds a line moves the reply back with it."""
        if chat_id not in self._drawn:
            self._drawn[chat_id] = self.timing().latency(names, datetime.fromtimestamp(last_received).hour)
        drawn = self._drawn[chat_id]
        return 0.0 if drawn is None else max(0.0, last_received + drawn - self.clock())

    def leave_unread(self, chat_id: str) -> bool:
        """`no_reply = true` only; never after a turn of this contact's that was left unread too."""
        if not self.no_reply:
            return False
        return self.timing().leave_unread(self.waits.last_outcome(chat_id) == Outcome.UNREAD)

    def pace(self) -> Pace:
        return Pace(self.timing(), self.clock)

    def replied(self, chat_id: str, inbox_id: int, last_received: float, pace: Pace) -> None:
        drawn = self._drawn.pop(chat_id, None)
        first = pace.sent_at[0] if pace.sent_at else self.clock()
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(pace.sent_at)]
        self.waits.record(
            chat_id, inbox_id, Outcome.REPLY, drawn, round(first - last_received, 3), pace.drawn[1:], gaps
        )

    def left_unread(self, chat_id: str, inbox_id: int) -> None:
        self.waits.record(chat_id, inbox_id, Outcome.UNREAD, self._drawn.pop(chat_id, None), None, [], [])

    def forget(self, chat_id: str) -> None:
        """The turn is over (answered, held for the owner, given the fallback): the next one draws anew."""
        self._drawn.pop(chat_id, None)
