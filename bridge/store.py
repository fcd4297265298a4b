"""The bridge's tables, in the feedback database (a SQLite file or PostgreSQL) and over its one connection.

Schema:
- `inbox(id, message_id UNIQUE, chat_id, chat_name, text, received_at, status, done_at, kind)`: every
  incoming message to answer; `status` is an `InboxStatus` (pending, review, answered, fallback, held, owner,
  unread); `kind` is `text`, or `voice` when `text` is WeChat's transcript of a voice message. The unique
  channel message id makes a re-delivered message after a restart a no-op.
- `turns(id, chat_id, role, content, at)`: per-contact memory (user = friend, assistant = clone).
- `skipped(id, message_id UNIQUE, chat_id, reason, received_at)`: messages received and deliberately
  not answered (an image, a deny-listed contact, an owner command), by reason and without their text;
  a message id here or in `inbox` is never taken in again.
- `channel_state(key PRIMARY KEY, value)`: what a channel must keep with the messages it delivered
  (the weixin update cursor, each contact's context token), written in the same transaction.

What must land together is one transaction: a delivery and its channel state (`receive`), an answered
message and its memory (`finish`), an A/B exchange and the messages waiting on it (`hold_for_review`,
which writes the feedback store's `exchanges` row in the same transaction as the inbox's status).
"""

from __future__ import annotations

import enum
import sqlite3
import time
from collections.abc import Sequence

from wechat_twin.feedback.store import FeedbackStore, integrity_errors


class InboxStatus(str, enum.Enum):
    """Where an incoming message stands: its `inbox.status` column."""

    PENDING = "pending"  # to answer
    REVIEW = "review"  # A/B candidates wait for the owner's choice
    ANSWERED = "answered"
    FALLBACK = "fallback"  # the API stayed down: the fallback text was sent instead
    HELD = "held"  # a guarded topic: waits for the owner's /send, /say or /skip
    OWNER = "owner"  # the owner answered it (or chose not to): a takeover, or a held message settled
    UNREAD = "unread"  # read, no reply: left unanswered on purpose (`no_reply = true`, bridge/rhythm.py)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT UNIQUE NOT NULL, chat_id TEXT NOT NULL,
    chat_name TEXT NOT NULL, text TEXT NOT NULL, received_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', done_at REAL, kind TEXT NOT NULL DEFAULT 'text');
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox(status, chat_id, id);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
    at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS skipped (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT UNIQUE NOT NULL, chat_id TEXT NOT NULL,
    reason TEXT NOT NULL, received_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS channel_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sent (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT NOT NULL, chat_name TEXT NOT NULL, text TEXT NOT NULL,
    author TEXT NOT NULL, at REAL NOT NULL);
"""
# Columns added after a table was first released: `CREATE TABLE IF NOT EXISTS` leaves an old table as it was.
_ADDED_COLUMNS = {"inbox": {"kind": "TEXT NOT NULL DEFAULT 'text'"}}


class BridgeStore:
    """Over `feedback`'s connection (it owns the file and closes it): one connection, so one transaction
    can hold the bridge's rows and an exchange."""

    def __init__(self, feedback: FeedbackStore) -> None:
        self._feedback = feedback
        self._db = feedback.connection
        self._db.executescript(_SCHEMA)
        self._add_missing_columns()
        self._transaction = feedback.transaction
        self._write = feedback.write

    def _add_missing_columns(self) -> None:
        """A database written before a column existed gets it, with its default: old rows keep their meaning."""
        for table, columns in _ADDED_COLUMNS.items():
            have = self._columns(table)
            for name, declaration in columns.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")

    def _columns(self, table: str) -> set[str]:
        if self._feedback.postgres:
            sql = (
                "SELECT column_name AS name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ?"
            )
        else:
            sql = "SELECT name FROM pragma_table_info(?)"
        return {row["name"] for row in self._db.execute(sql, (table,))}

    # inbox
    def enqueue(self, message_id: str, chat_id: str, chat_name: str, text: str, received_at: float) -> bool:
        """False when this message was already stored (a re-delivery after a restart)."""
        try:
            self._write(
                "INSERT INTO inbox(message_id, chat_id, chat_name, text, received_at) VALUES (?,?,?,?,?)",
                (message_id, chat_id, chat_name, text, received_at),
            )
        except integrity_errors():  # SQLite's or PostgreSQL's, whichever the feedback store is on
            return False
        return True

    def receive(
        self,
        queued: Sequence[tuple[str, str, str, str, float, str]],
        skipped: Sequence[tuple[str, str, str, float]],
        state: dict[str, str],
    ) -> None:
        """One delivery from a channel in one transaction: the messages to answer
        (`message_id, chat_id, chat_name, text, received_at, kind`), the ones not to answer
        (`message_id, chat_id, reason, received_at`) and the channel state that goes with them,
        so a crash either keeps all of it (and the cursor moved past it) or none of it."""
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO inbox(message_id, chat_id, chat_name, text, received_at, kind) "
                "VALUES (?,?,?,?,?,?)",
                queued,
            )
            db.executemany(
                "INSERT OR IGNORE INTO skipped(message_id, chat_id, reason, received_at) VALUES (?,?,?,?)", skipped
            )
            db.executemany(
                "INSERT INTO channel_state(key, value) VALUES (?,?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                list(state.items()),
            )

    def seen(self, message_id: str) -> bool:
        """Whether this message was taken in before (answered, queued or skipped)."""
        sql = "SELECT 1 FROM inbox WHERE message_id=? UNION ALL SELECT 1 FROM skipped WHERE message_id=?"
        row = self._db.execute(sql, (message_id, message_id)).fetchone()
        return row is not None

    def skipped_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT reason, COUNT(*) AS n FROM skipped GROUP BY reason ORDER BY reason")
        return {row["reason"]: row["n"] for row in rows}

    def channel_state(self, prefix: str) -> dict[str, str]:
        rows = self._db.execute("SELECT key, value FROM channel_state WHERE substr(key, 1, ?)=?", (len(prefix), prefix))
        return {row["key"]: row["value"] for row in rows}

    def pending_chats(self) -> list[str]:
        rows = self._db.execute(
            "SELECT chat_id, MIN(id) AS first FROM inbox WHERE status=? GROUP BY chat_id ORDER BY first",
            (InboxStatus.PENDING.value,),
        ).fetchall()
        return [row["chat_id"] for row in rows]

    def pending(self, chat_id: str) -> list[sqlite3.Row]:
        return self._db.execute(
            "SELECT * FROM inbox WHERE status=? AND chat_id=? ORDER BY id", (InboxStatus.PENDING.value, chat_id)
        ).fetchall()

    def in_review(self, chat_id: str) -> list[int]:
        """Messages whose A/B candidates wait for a choice (kept across restarts, never re-asked)."""
        rows = self._db.execute(
            "SELECT id FROM inbox WHERE status=? AND chat_id=? ORDER BY id", (InboxStatus.REVIEW.value, chat_id)
        )
        return [row["id"] for row in rows]

    def inbox_rows(self) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM inbox ORDER BY id").fetchall()

    # what went out in the owner's name (`twin-bridge log`)
    def log_sent(self, chat_id: str, text: str, author: str) -> None:
        """`author`: clone (its own reply), approved (the owner let a draft out) or owner (the owner's words)."""
        row = self._db.execute(
            "SELECT chat_name FROM inbox WHERE chat_id=? ORDER BY id DESC LIMIT 1", (chat_id,)
        ).fetchone()
        self._write(
            "INSERT INTO sent(chat_id, chat_name, text, author, at) VALUES (?,?,?,?,?)",
            (chat_id, row["chat_name"] if row else chat_id, text, author, time.time()),
        )

    def sent_messages(self, contact: str | None = None, since: float | None = None) -> list[sqlite3.Row]:
        """Oldest first; `contact` matches the id or the name the bridge knows them by."""
        where, args = ["at >= ?"], [since or 0.0]
        if contact:
            where.append("(chat_id = ? OR chat_name = ?)")
            args += [contact, contact]
        return self._db.execute(f"SELECT * FROM sent WHERE {' AND '.join(where)} ORDER BY id", args).fetchall()

    # memory
    def history(self, chat_id: str, since: float, limit: int) -> list[dict[str, str]]:
        rows = self._db.execute(
            "SELECT role, content FROM turns WHERE chat_id=? AND at>=? ORDER BY id DESC LIMIT ?",
            (chat_id, since, limit),
        ).fetchall()
        return [{"role": r["role"], "content": r["content"]} for r in reversed(rows)]

    def last_turn_at(self, chat_id: str) -> float | None:
        row = self._db.execute("SELECT MAX(at) AS at FROM turns WHERE chat_id=?", (chat_id,)).fetchone()
        return row["at"]

    def forget(self, chat_id: str) -> None:
        self._write("DELETE FROM turns WHERE chat_id=?", (chat_id,))

    def finish(self, inbox_ids: list[int], status: InboxStatus, turns: list[tuple[str, str, str, float]]) -> None:
        """Mark messages done and remember the turns in one transaction: a crash repeats nothing."""
        with self._transaction():
            self._set_status(inbox_ids, status, time.time())
            self._db.executemany("INSERT INTO turns(chat_id, role, content, at) VALUES (?,?,?,?)", turns)

    def _set_status(self, inbox_ids: Sequence[int], status: InboxStatus, at: float) -> None:
        value = InboxStatus(status).value  # a misspelt status is refused, never written
        self._db.executemany("UPDATE inbox SET status=?, done_at=? WHERE id=?", [(value, at, i) for i in inbox_ids])

    def hold_for_review(
        self,
        inbox_ids: Sequence[int],
        chat_id: str,
        chat_name: str,
        adapter: str,
        base_model: str | None,
        context: list[dict[str, str]],
        candidates: list[str],
    ) -> int:
        """Record an A/B exchange and mark the messages it answers `review` in one transaction: they
        wait for the owner's choice, and a crash can neither lose them nor ask twice."""
        with self._transaction():
            exchange_id = self._feedback.record_exchange(
                chat_id, chat_name, adapter, base_model, context, candidates=candidates
            )
            self._set_status(inbox_ids, InboxStatus.REVIEW, time.time())
        return exchange_id
