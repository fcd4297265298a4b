"""The feedback database: exchanges and their labels, the rows DPO and KTO train on.

Where it lives: a SQLite file (WAL, owner-only), the default, for one server or one bridge on one machine;
or a PostgreSQL database (`postgresql://...`, `feedback/postgres.py`), which several server replicas and the
bridge can write at once. The schema, the statements and what they do are the same on both.

The bridge keeps its own tables in the same database, over this store's connection
(`bridge/store.py`), so an A/B exchange and the inbox messages waiting on it land in one transaction.

Schema:
- `exchanges(id, chat_id, chat_name, adapter, base_model, context, reply, candidates, created_at)`:
  what was sent to the API (`context`: the full messages list, system prompt included when one
  was sent) and what came back (`reply`, or `candidates` for an A/B exchange, JSON).
- `labels(id, exchange_id, kind, chosen, good, labeler, created_at)`: kind `choice` (DPO: index
  of the chosen candidate) or `label` (KTO: good true/false).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wechat_twin.errors import TwinError
from wechat_twin.feedback import FeedbackLocation, is_postgres_url
from wechat_twin.private_files import touch_private

if TYPE_CHECKING:
    from wechat_twin.feedback.postgres import PostgresConnection

_SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT NOT NULL, chat_name TEXT NOT NULL, adapter TEXT NOT NULL,
    base_model TEXT, context TEXT NOT NULL, reply TEXT, candidates TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT, exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
    kind TEXT NOT NULL, chosen INTEGER, good INTEGER, labeler TEXT NOT NULL, created_at REAL NOT NULL);
"""
_PASSWORD = re.compile(r"(://[^:/@?#]*):[^@/?#]*@")  # postgresql://user:PASSWORD@host
_PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&#]*", re.I)  # postgresql://host/db?password=PASSWORD


class FeedbackDatabaseError(TwinError):
    """The database cannot be opened: the message names it (without its password) and why."""


class ChoiceTaken(TwinError):
    """A pair already has its choice (another replica, tab or owner chose first): the first one stands."""


def describe(location: FeedbackLocation) -> str:
    """The location as it may be shown in an error or a log: a URL's password is left out."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _PASSWORD.sub(r"\1:***@", str(location)))


def integrity_errors() -> tuple[type[Exception], ...]:
    """What a broken UNIQUE (or other) constraint raises, on either database."""
    try:
        from wechat_twin.feedback.postgres import IntegrityError
    except ImportError:  # psycopg not installed: only SQLite can be in use
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, IntegrityError)


class FeedbackStore:
    """Owns the database's one connection; other stores over the same database (the bridge's) use
    `connection` and `transaction()` so their writes and these can land together."""

    def __init__(self, location: FeedbackLocation) -> None:
        self.location = location
        self.postgres = is_postgres_url(location)
        self._lock = threading.RLock()
        try:
            self._db = self._open_postgres(str(location)) if self.postgres else self._open_sqlite(Path(location))
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise FeedbackDatabaseError(f"feedback database {describe(location)}: {exc}") from exc

    @staticmethod
    def _open_sqlite(path: Path) -> sqlite3.Connection:
        touch_private(path)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @staticmethod
    def _open_postgres(url: str) -> PostgresConnection:
        try:
            from wechat_twin.feedback.postgres import PostgresConnection
        except ImportError as exc:
            raise FeedbackDatabaseError(
                f"{describe(url)}: PostgreSQL needs psycopg (pip install 'psycopg[binary]')"
            ) from exc
        import psycopg

        try:
            return PostgresConnection(url)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())  # libpq's message spans lines: one `error:` line
            raise FeedbackDatabaseError(f"feedback database {describe(url)}: {reason}") from exc

    @property
    def connection(self) -> sqlite3.Connection | PostgresConnection:
        return self._db

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection | PostgresConnection]:
        """Statements that must land together. The connection is in autocommit mode
        (`isolation_level=None`), where `with connection:` groups nothing, so this says BEGIN
        itself (on PostgreSQL, psycopg's transaction block); the lock keeps another thread's
        statement out of an open transaction. A transaction opened inside another on the same
        thread joins it, so a caller can group writes of this store and the bridge's into one."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            if self.postgres:
                with self._db.transaction():
                    yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def write(self, sql: str, args: tuple = ()) -> int:
        """One statement in its own transaction (or the caller's); returns the new row's id."""
        with self.transaction() as db:
            if not self.postgres:
                return db.execute(sql, args).lastrowid or 0
            if sql.lstrip().upper().startswith("INSERT"):
                return db.insert(sql, args)
            db.execute(sql, args)
            return 0

    def record_exchange(
        self,
        chat_id: str,
        chat_name: str,
        adapter: str,
        base_model: str | None,
        context: list[dict[str, str]],
        reply: str | None = None,
        candidates: list[str] | None = None,
    ) -> int:
        """Inside the caller's `transaction()` when one is open (the bridge's A/B exchange and its inbox rows)."""
        return self.write(
            "INSERT INTO exchanges(chat_id, chat_name, adapter, base_model, context, reply, candidates, "
            "created_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                chat_id,
                chat_name,
                adapter,
                base_model,
                json.dumps(context, ensure_ascii=False),
                reply,
                json.dumps(candidates, ensure_ascii=False) if candidates else None,
                time.time(),
            ),
        )

    def exchange(self, exchange_id: int) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM exchanges WHERE id=?", (exchange_id,)).fetchone()
        return dict(row)

    def find_exchange(self, exchange_id: int) -> dict[str, Any] | None:
        """The exchange with its choice (None when not chosen yet), or None when there is no such id."""
        row = self._db.execute(
            "SELECT e.*, (SELECT chosen FROM labels l WHERE l.exchange_id=e.id AND "
            "l.kind='choice' LIMIT 1) AS chosen FROM exchanges e WHERE e.id=?",
            (exchange_id,),
        ).fetchone()
        return dict(row) if row else None

    def open_choice(self) -> sqlite3.Row | None:
        """The newest A/B exchange still waiting for a choice."""
        return self._db.execute(
            "SELECT * FROM exchanges e WHERE candidates IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM labels l WHERE l.exchange_id=e.id AND l.kind='choice') ORDER BY id DESC LIMIT 1"
        ).fetchone()

    def last_reply(self, chat_id: str | None = None) -> sqlite3.Row | None:
        where, args = ("AND chat_id=?", (chat_id,)) if chat_id else ("", ())
        return self._db.execute(
            f"SELECT * FROM exchanges WHERE reply IS NOT NULL {where} ORDER BY id DESC LIMIT 1", args
        ).fetchone()

    def record_choice(self, exchange_id: int, chosen: int, labeler: str) -> None:
        """Store the choice and make the chosen candidate the exchange's reply, in one transaction.

        The first choice stands: a second one (another server replica, a second tab) raises `ChoiceTaken`
        and writes nothing. The exchange's row is locked while this looks (PostgreSQL's `FOR UPDATE`;
        SQLite's `BEGIN IMMEDIATE` already lets one writer in at a time), so two at once cannot both pass."""
        lock = " FOR UPDATE" if self.postgres else ""
        with self.transaction() as db:
            exchange = db.execute(f"SELECT candidates FROM exchanges WHERE id=?{lock}", (exchange_id,)).fetchone()
            taken = db.execute("SELECT 1 FROM labels WHERE exchange_id=? AND kind='choice'", (exchange_id,)).fetchone()
            if taken is not None:
                raise ChoiceTaken(f"exchange {exchange_id} was already chosen")
            candidates = json.loads(exchange["candidates"])
            self._db.execute("UPDATE exchanges SET reply=? WHERE id=?", (candidates[chosen], exchange_id))
            self._db.execute(
                "INSERT INTO labels(exchange_id, kind, chosen, labeler, created_at) VALUES (?,?,?,?,?)",
                (exchange_id, "choice", chosen, labeler, time.time()),
            )

    def record_label(self, exchange_id: int, good: bool, labeler: str) -> None:
        self.write(
            "INSERT INTO labels(exchange_id, kind, good, labeler, created_at) VALUES (?,?,?,?,?)",
            (exchange_id, "label", int(good), labeler, time.time()),
        )

    def preference_pairs(self) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT e.*, l.chosen FROM labels l JOIN exchanges e ON e.id=l.exchange_id "
            "WHERE l.kind='choice' ORDER BY l.id"
        ).fetchall()
        pairs = []
        for row in rows:
            candidates = json.loads(row["candidates"])
            pairs.append(
                {
                    "prompt": json.loads(row["context"]),
                    "chosen": candidates[row["chosen"]],
                    "rejected": candidates[1 - row["chosen"]],
                    "adapter": row["adapter"],
                    "base_model": row["base_model"],
                }
            )
        return pairs

    def unpaired_labels(self) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT e.*, l.good FROM labels l JOIN exchanges e ON e.id=l.exchange_id "
            "WHERE l.kind='label' AND e.reply IS NOT NULL ORDER BY l.id"
        ).fetchall()
        return [
            {
                "prompt": json.loads(r["context"]),
                "completion": r["reply"],
                "label": bool(r["good"]),
                "adapter": r["adapter"],
                "base_model": r["base_model"],
            }
            for r in rows
        ]
