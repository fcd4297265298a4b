"""How much feedback one key may write: a friend's key must not fill the owner's disk or training data.

A sliding window per key name over every write (👍/👎, "show two", a choice); past the limit the key gets
429 with the seconds until its oldest write leaves the window.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque

from wechat_twin.server.errors import OpenAIError

FEEDBACK_PER_MINUTE = 30  # a person clicking, not a script
WINDOW_S = 60.0


class FeedbackRate:
    def __init__(self, per_window: int = FEEDBACK_PER_MINUTE, window_s: float = WINDOW_S) -> None:
        self.per_window = per_window
        self.window_s = window_s
        self._writes: dict[str, deque[float]] = defaultdict(deque)

    def spend(self, key: str) -> None:
        """Count one write for `key`, or raise 429 when it already made `per_window` in the window."""
        now = time.monotonic()
        writes = self._writes[key]
        while writes and writes[0] <= now - self.window_s:
            writes.popleft()
        if len(writes) >= self.per_window:
            wait = max(1, math.ceil(writes[0] + self.window_s - now))
            raise OpenAIError(
                429,
                f"at most {self.per_window} feedback writes per minute per key; retry in {wait} s",
                code="feedback_rate_limited",
                headers={"Retry-After": str(wait)},
            )
        writes.append(now)
