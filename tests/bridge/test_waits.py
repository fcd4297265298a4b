"""The waits table on both feedback backends: each reply's drawn and actual waits, and the last outcome per contact."""

from __future__ import annotations

import json

from wechat_twin.bridge.waits import Outcome, WaitLog
from wechat_twin.feedback.store import FeedbackStore


def test_waits_are_recorded_and_read_back_on_sqlite_and_postgresql(feedback_location):
    store = FeedbackStore(feedback_location)
    try:
        waits = WaitLog(store)
        assert waits.last_outcome("@a") is None
        waits.record("@a", 1, Outcome.REPLY, 12.5, 13.25, [0.5, 1.5], [0.75, 1.5])
        waits.record("@a", 2, Outcome.UNREAD, 3.0, None, [], [])
        waits.record("@b", 3, Outcome.REPLY, None, 0.5, [0.2], [0.25])
        assert waits.last_outcome("@a") is Outcome.UNREAD and waits.last_outcome("@b") is Outcome.REPLY
        first, second = waits.rows("@a")
        assert (first["outcome"], first["drawn_latency_s"], first["actual_latency_s"]) == ("reply", 12.5, 13.25)
        assert json.loads(first["drawn_gaps_s"]) == [0.5, 1.5] and json.loads(first["actual_gaps_s"]) == [0.75, 1.5]
        assert second["outcome"] == "unread" and second["actual_latency_s"] is None
        assert [row["chat_id"] for row in waits.rows()] == ["@a", "@a", "@b"]
    finally:
        store.close()
