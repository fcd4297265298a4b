"""The bridge's one SQLite file (WAL, owner-only): inbox, conversation memory, exchanges, labels.

Schema:
- `inbox(id, message_id UNIQUE, chat_id, chat_name, text, received_at, status, done_at)`: every
  incoming message to answer; `status` is pending, review (A/B candidates wait for a choice),
  answered or fallback. The unique
  channel message id makes a re-delivered message after a restart a no-op.
- `turns(id, chat_id, role, content, at)`: per-contact memory (user = friend, assistant = clone).
- `exchanges(id, chat_id, chat_name, adapter, base_model, context, reply, candidates, created_at)`:
  what was sent to the API (`context`: the full messages list, system prompt included when one
  was sent) and what came back (`reply`, or `candidates` for an A/B exchange, JSON).
- `labels(id, exchange_id, kind, chosen, good, labeler, created_at)`: kind `choice` (DPO: index
  of the chosen candidate) or `label` (KTO: good true/false).
- `skipped(id, message_id UNIQUE, chat_id, reason, received_at)`: messages received and deliberately
  not answered (an image, a deny-listed contact, an owner command), by reason and without their text;
  a message id here or in `inbox` is never taken in again.
- `channel_state(key PRIMARY KEY, value)`: what a channel must keep with the messages it delivered
  (the weixin update cursor, each contact's context token), written in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wechat_twin.private_files import touch_private

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT UNIQUE NOT NULL, chat_id TEXT NOT NULL,
    chat_name TEXT NOT NULL, text TEXT NOT NULL, received_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', done_at REAL);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox(status, chat_id, id);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
    at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT NOT NULL, chat_name TEXT NOT NULL, adapter TEXT NOT NULL,
    base_model TEXT, context TEXT NOT NULL, reply TEXT, candidates TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT, exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
    kind TEXT NOT NULL, chosen INTEGER, good INTEGER, labeler TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS skipped (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT UNIQUE NOT NULL, chat_id TEXT NOT NULL,
    reason TEXT NOT NULL, received_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS channel_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        touch_private(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Statements that must land together. The connection is in autocommit mode
        (`isolation_level=None`), where `with connection:` groups nothing, so this says BEGIN
        itself; the lock keeps another thread's statement out of an open transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _write(self, sql: str, args: tuple = ()) -> int:
        with self._transaction() as db:
            return db.execute(sql, args).lastrowid or 0

    # inbox
    def enqueue(self, message_id: str, chat_id: str, chat_name: str, text: str, received_at: float) -> bool:
        """False when this message was already stored (a re-delivery after a restart)."""
        try:
            self._write("INSERT INTO inbox(message_id, chat_id, chat_name, text, received_at) VALUES (?,?,?,?,?)",
                        (message_id, chat_id, chat_name, text, received_at))  # fmt: skip
        except sqlite3.IntegrityError:
            return False
        return True

    def receive(self, queued: Sequence[tuple[str, str, str, str, float]],
                skipped: Sequence[tuple[str, str, str, float]], state: dict[str, str]) -> None:  # fmt: skip
        """One delivery from a channel in one transaction: the messages to answer
        (`message_id, chat_id, chat_name, text, received_at`), the ones not to answer
        (`message_id, chat_id, reason, received_at`) and the channel state that goes with them,
        so a crash either keeps all of it (and the cursor moved past it) or none of it."""
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO inbox(message_id, chat_id, chat_name, text, received_at) "
                           "VALUES (?,?,?,?,?)", queued)  # fmt: skip
            db.executemany("INSERT OR IGNORE INTO skipped(message_id, chat_id, reason, received_at) VALUES (?,?,?,?)",
                           skipped)  # fmt: skip
            db.executemany("INSERT INTO channel_state(key, value) VALUES (?,?) "
                           "ON CONFLICT(key) DO UPDATE SET value=excluded.value", list(state.items()))  # fmt: skip

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
        rows = self._db.execute("SELECT chat_id, MIN(id) AS first FROM inbox WHERE status='pending' "
                                "GROUP BY chat_id ORDER BY first").fetchall()  # fmt: skip
        return [row["chat_id"] for row in rows]

    def pending(self, chat_id: str) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM inbox WHERE status='pending' AND chat_id=? ORDER BY id",
                                (chat_id,)).fetchall()  # fmt: skip

    def in_review(self, chat_id: str) -> list[int]:
        """Messages whose A/B candidates wait for a choice (kept across restarts, never re-asked)."""
        rows = self._db.execute("SELECT id FROM inbox WHERE status='review' AND chat_id=? ORDER BY id", (chat_id,))
        return [row["id"] for row in rows]

    def inbox_rows(self) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM inbox ORDER BY id").fetchall()

    # memory
    def history(self, chat_id: str, since: float, limit: int) -> list[dict[str, str]]:
        rows = self._db.execute("SELECT role, content FROM turns WHERE chat_id=? AND at>=? ORDER BY id DESC LIMIT ?",
                                (chat_id, since, limit)).fetchall()  # fmt: skip
        return [{"role": r["role"], "content": r["content"]} for r in reversed(rows)]

    def last_turn_at(self, chat_id: str) -> float | None:
        row = self._db.execute("SELECT MAX(at) AS at FROM turns WHERE chat_id=?", (chat_id,)).fetchone()
        return row["at"]

    def forget(self, chat_id: str) -> None:
        self._write("DELETE FROM turns WHERE chat_id=?", (chat_id,))

    def finish(self, inbox_ids: list[int], status: str, turns: list[tuple[str, str, str, float]]) -> None:
        """Mark messages done and remember the turns in one transaction: a crash repeats nothing."""
        with self._transaction():
            self._set_status(inbox_ids, status, time.time())
            self._db.executemany("INSERT INTO turns(chat_id, role, content, at) VALUES (?,?,?,?)", turns)

    def _set_status(self, inbox_ids: Sequence[int], status: str, at: float) -> None:
        self._db.executemany("UPDATE inbox SET status=?, done_at=? WHERE id=?", [(status, at, i) for i in inbox_ids])

    # feedback
    def record_exchange(self, chat_id: str, chat_name: str, adapter: str, base_model: str | None,
                        context: list[dict[str, str]], reply: str | None = None,
                        candidates: list[str] | None = None, reviewing: Sequence[int] = ()) -> int:  # fmt: skip
        """`reviewing`: the inbox messages that, in the same transaction, start waiting for the
        owner's choice between `candidates`, so a crash can neither lose them nor ask twice."""
        now = time.time()
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO exchanges(chat_id, chat_name, adapter, base_model, context, reply, candidates, "
                "created_at) VALUES (?,?,?,?,?,?,?,?)",
                (chat_id, chat_name, adapter, base_model, json.dumps(context, ensure_ascii=False), reply,
                 json.dumps(candidates, ensure_ascii=False) if candidates else None, now),
            )  # fmt: skip
            self._set_status(reviewing, "review", now)
        return cursor.lastrowid or 0

    def exchange(self, exchange_id: int) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM exchanges WHERE id=?", (exchange_id,)).fetchone()
        return dict(row)

    def find_exchange(self, exchange_id: int) -> dict[str, Any] | None:
        """The exchange with its choice (None when not chosen yet), or None when there is no such id."""
        row = self._db.execute("SELECT e.*, (SELECT chosen FROM labels l WHERE l.exchange_id=e.id AND "
                               "l.kind='choice' LIMIT 1) AS chosen FROM exchanges e WHERE e.id=?",
                               (exchange_id,)).fetchone()  # fmt: skip
        return dict(row) if row else None

    def open_choice(self) -> sqlite3.Row | None:
        """The newest A/B exchange still waiting for a choice."""
        return self._db.execute(
            "SELECT * FROM exchanges e WHERE candidates IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM labels l WHERE l.exchange_id=e.id AND l.kind='choice') ORDER BY id DESC LIMIT 1"
        ).fetchone()

    def last_reply(self, chat_id: str | None = None) -> sqlite3.Row | None:
        where, args = ("AND chat_id=?", (chat_id,)) if chat_id else ("", ())
        return self._db.execute(f"SELECT * FROM exchanges WHERE reply IS NOT NULL {where} ORDER BY id DESC LIMIT 1",
                                args).fetchone()  # fmt: skip

    def record_choice(self, exchange_id: int, chosen: int, labeler: str) -> None:
        """Store the choice and make the chosen candidate the exchange's reply, in one transaction."""
        with self._transaction():
            candidates = json.loads(self.exchange(exchange_id)["candidates"])
            self._db.execute("UPDATE exchanges SET reply=? WHERE id=?", (candidates[chosen], exchange_id))
            self._db.execute("INSERT INTO labels(exchange_id, kind, chosen, labeler, created_at) VALUES (?,?,?,?,?)",
                             (exchange_id, "choice", chosen, labeler, time.time()))  # fmt: skip

    def record_label(self, exchange_id: int, good: bool, labeler: str) -> None:
        self._write("INSERT INTO labels(exchange_id, kind, good, labeler, created_at) VALUES (?,?,?,?,?)",
                    (exchange_id, "label", int(good), labeler, time.time()))  # fmt: skip

    def preference_pairs(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT e.*, l.chosen FROM labels l JOIN exchanges e ON e.id=l.exchange_id "
                                "WHERE l.kind='choice' ORDER BY l.id").fetchall()  # fmt: skip
        pairs = []
        for row in rows:
            candidates = json.loads(row["candidates"])
            pairs.append({"prompt": json.loads(row["context"]), "chosen": candidates[row["chosen"]],
                          "rejected": candidates[1 - row["chosen"]], "adapter": row["adapter"],
                          "base_model": row["base_model"]})  # fmt: skip
        return pairs

    def unpaired_labels(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT e.*, l.good FROM labels l JOIN exchanges e ON e.id=l.exchange_id "
                                "WHERE l.kind='label' AND e.reply IS NOT NULL ORDER BY l.id").fetchall()  # fmt: skip
        return [{"prompt": json.loads(r["context"]), "completion": r["reply"], "label": bool(r["good"]),
                 "adapter": r["adapter"], "base_model": r["base_model"]} for r in rows]  # fmt: skip
