"""A feedback.db written by an earlier bridge opens with the columns added since, its rows keeping their meaning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from wechat_twin.bridge.store import BridgeStore
from wechat_twin.feedback.store import FeedbackStore

# The inbox as the bridge created it before messages had a kind (voice).
OLD_INBOX = """
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT UNIQUE NOT NULL, chat_id TEXT NOT NULL,
    chat_name TEXT NOT NULL, text TEXT NOT NULL, received_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', done_at REAL);
"""
OLD_ROW = "INSERT INTO inbox(message_id, chat_id, chat_name, text, received_at) VALUES ('m1', 'mia', 'mia', 'hi', 1.0)"


def _write_old_inbox(location: Path | str) -> None:
    if isinstance(location, Path):
        with sqlite3.connect(location) as old:
            old.executescript(OLD_INBOX)
            old.execute(OLD_ROW)
        return
    from wechat_twin.feedback.postgres import PostgresConnection

    old = PostgresConnection(location)
    old.executescript(OLD_INBOX)
    old.execute(OLD_ROW)
    old.close()


def test_an_old_inbox_gets_the_kind_column_and_its_messages_stay_text(feedback_location):
    _write_old_inbox(feedback_location)
    feedback = FeedbackStore(feedback_location)
    try:
        store = BridgeStore(feedback)
        store.receive([("m2", "mia", "mia", "今晚吃饭吗", 2.0, "voice")], [], {})
        assert [(r["message_id"], r["kind"]) for r in store.inbox_rows()] == [("m1", "text"), ("m2", "voice")]
        BridgeStore(feedback)  # opening it again changes nothing
    finally:
        feedback.close()
