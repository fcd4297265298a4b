"""The waits table: for every reply, the latency and bubble gaps the rhythm drew and the ones that passed.

Schema, in the feedback database's file over its connection (like `store.py`'s tables):
`waits(id, chat_id, inbox_id, outcome, drawn_latency_s, actual_latency_s, drawn_gaps_s, actual_gaps_s, at)`:
`outcome` is `reply` or `unread` (read, no reply); the latencies run from the friend's last message to the
first bubble (`drawn_latency_s` is null without a rhythm: no wait was drawn); the gaps (JSON lists) are
between a reply's bubbles. The owner can see how the clone's pace compares with what it was asked to keep.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import time
from collections.abc import Sequence

from wechat_twin.feedback.store import FeedbackStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS waits (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT NOT NULL, inbox_id INTEGER NOT NULL, outcome TEXT NOT NULL,
    drawn_latency_s REAL, actual_latency_s REAL, drawn_gaps_s TEXT NOT NULL, actual_gaps_s TEXT NOT NULL,
    at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS waits_chat ON waits(chat_id, id);
"""


class Outcome(str, enum.Enum):
    REPLY = "reply"
    UNREAD = "unread"  # read, no reply: left unanswered on purpose (`no_reply = true`)


class WaitLog:
    def __init__(self, feedback: FeedbackStore) -> None:
        self._db = feedback.connection
        self._db.executescript(_SCHEMA)
        self._write = feedback.write

    def record(
        self,
        chat_id: str,
        inbox_id: int,
        outcome: Outcome,
        drawn_latency_s: float | None,
        actual_latency_s: float | None,
        drawn_gaps_s: Sequence[float],
        actual_gaps_s: Sequence[float],
    ) -> None:
        self._write(
            "INSERT INTO waits(chat_id, inbox_id, outcome, drawn_latency_s, actual_latency_s, drawn_gaps_s, "
            "actual_gaps_s, at) VALUES (?,?,?,?,?,?,?,?)",
            (
                chat_id,
                inbox_id,
                Outcome(outcome).value,
                drawn_latency_s,
                actual_latency_s,
                json.dumps(list(drawn_gaps_s)),
                json.dumps(list(actual_gaps_s)),
                time.time(),
            ),
        )

    def last_outcome(self, chat_id: str) -> Outcome | None:
        row = self._db.execute("SELECT outcome FROM waits WHERE chat_id=? ORDER BY id DESC LIMIT 1", (chat_id,))
        found = row.fetchone()
        return Outcome(found["outcome"]) if found else None

    def rows(self, chat_id: str | None = None) -> list[sqlite3.Row]:
        if chat_id is None:
            return self._db.execute("SELECT * FROM waits ORDER BY id").fetchall()
        return self._db.execute("SELECT * FROM waits WHERE chat_id=? ORDER BY id", (chat_id,)).fetchall()
