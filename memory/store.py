"""`memory.sqlite`: the owner's past exchanges per contact, with FTS5 over them, and the owner's facts.

Schema:
- `aliases(alias, contact)`: every name a request may use for a contact (the export's chat id, its
  remark or nickname, and the dataset's `chat` key) to the contact key (the dataset's `chat` key).
- `exchanges(id, contact, session, time, friend, owner)`: one friend turn and the owner's reply.
  `session` is the dataset's chat key and session start, so training can leave a sample's own
  session out; `time` is that session's start (ISO 8601).
- `exchange_terms`: FTS5 over (contact, friend, owner) as terms from `wechat_twin.memory.terms`;
  rowid = exchanges.id. The contact key is a column, so a search reads one contact's rows only.
- `facts(contact, position, text)`: the facts file's lines; contact "*" holds the ones shared with every
  contact. Lines the owner did not mark shared are never written (files from before the mark kept them
  under contact "", which nothing reads any more).

Only the train split is ever written here (dev is what evaluation measures against), and the texts
are the dataset's, already redacted. `twin-train data` builds the file in its staging folder in one
transaction (rows first, then the index over them) and renames it into place owner-only (0600).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wechat_twin.errors import TwinError
from wechat_twin.memory.facts import GLOBAL, SHARED, Facts
from wechat_twin.memory.terms import indexed, match_expression

MEMORY_FILE = "memory.sqlite"
SCHEMA_VERSION = "1"
# The FTS5 index's segments span several 4 KiB pages; in 16 KiB pages they fill it 13% faster (issue 31).
PAGE_SIZE = 16384
FRIEND_WEIGHT, OWNER_WEIGHT = 2.0, 1.0  # bm25 column weights: the friend's words are what a new message resembles

_COLUMNS = "e.contact, e.session, e.time, e.friend, e.owner"
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE aliases (alias TEXT PRIMARY KEY, contact TEXT NOT NULL);
CREATE TABLE exchanges (
    id INTEGER PRIMARY KEY, contact TEXT NOT NULL, session TEXT NOT NULL, time TEXT NOT NULL,
    friend TEXT NOT NULL, owner TEXT NOT NULL);
CREATE VIRTUAL TABLE exchange_terms USING fts5 (contact, friend, owner, tokenize = 'unicode61 remove_diacritics 0');
CREATE TABLE facts (contact TEXT NOT NULL, position INTEGER NOT NULL, text TEXT NOT NULL);
"""
# Made after the rows: one sort instead of a B-tree insert per row.
_INDEX = "CREATE INDEX exchanges_by_contact ON exchanges (contact, time)"


class MemoryFileError(TwinError):
    """A memory file that is missing or not one `twin-train data` wrote."""


@dataclass(frozen=True, slots=True)
class Exchange:
    contact: str
    session: str
    time: str
    friend: str
    owner: str


def session_key(contact: str, session_start: str) -> str:
    return f"{contact}/{session_start}"


def build_memory(exchanges: Iterable[Exchange], aliases: dict[str, str], facts: Facts | None) -> bytes:
    """The whole database as bytes, terms made here one exchange at a time: for small memories (tests,
    benches). The import writes its file with `write_memory`, terms made over whole columns."""
    rows = [(e.contact, e.session, e.time, e.friend, e.owner) for e in exchanges]
    terms = [(e[0], indexed(e[3]), indexed(e[4])) for e in rows]
    conn = sqlite3.connect(":memory:")
    try:
        _fill(conn, rows, terms, aliases, facts)
        return conn.serialize()
    finally:
        conn.close()


def write_memory(
    path: Path,
    rows: Iterable[tuple[str, str, str, str, str]],
    terms: Iterable[tuple[str, str, str]],
    aliases: dict[str, str],
    facts: Facts | None,
) -> None:
    """Create the database at `path`, a new empty file nothing else reads until it is renamed into place:
    so no journal and no syncs while it fills (a crash leaves only a partial file to remove). Its pages are
    `PAGE_SIZE`: the same rows, laid out in fewer, larger pages.

    `rows` are the exchanges (contact, session, time, friend, owner) in id order, `terms` the same
    exchanges' (contact, friend terms, owner terms) as `wechat_twin.memory.terms.indexed` makes them."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        _fill(conn, rows, terms, aliases, facts)
    finally:
        conn.close()


def _fill(
    conn: sqlite3.Connection,
    rows: Iterable[tuple[str, str, str, str, str]],
    terms: Iterable[tuple[str, str, str]],
    aliases: dict[str, str],
    facts: Facts | None,
) -> None:
    """One transaction: the rows, then the index and the FTS5 index over them in id order, merged into one
    segment. The FTS5 index gets the same inserts in the same order as one row at a time would (its rowids
    numbered 1, 2, ... like the exchanges' ids), so its shadow tables hold the same rows; only the Python
    calls per row are gone."""
    conn.executescript(_SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
    conn.executemany("INSERT OR IGNORE INTO aliases VALUES (?, ?)", aliases.items())
    conn.executemany("INSERT INTO exchanges (contact, session, time, friend, owner) VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute(_INDEX)
    conn.executemany("INSERT INTO exchange_terms (contact, friend, owner) VALUES (?, ?, ?)", terms)
    for section, lines in facts.by_section.items() if facts else ():
        if section == GLOBAL:  # not marked shared: no prompt gets them, so the file does not carry them
            continue
        contact = SHARED if section == SHARED else aliases.get(section, section)
        if contact == section and section != SHARED:
            conn.execute("INSERT OR IGNORE INTO aliases VALUES (?, ?)", (section, section))
        conn.executemany("INSERT INTO facts VALUES (?, ?, ?)", ((contact, i, t) for i, t in enumerate(lines)))
    conn.commit()
    conn.execute("INSERT INTO exchange_terms (exchange_terms) VALUES ('optimize')")
    conn.commit()


class MemoryStore:
    """Read-only access for retrieval. One connection, used from one thread at a time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise MemoryFileError(f"{self.path}: no such memory file (run `twin-train data` without --no-memory)")
        # as_uri() percent-escapes `#`, `?` and `%`: unescaped, they would open (and create) another file.
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        try:
            version = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise MemoryFileError(f"{self.path}: not a memory file written by `twin-train data` ({error})") from error
        if version is None or version[0] != SCHEMA_VERSION:
            self._conn.close()
            raise MemoryFileError(f"{self.path}: memory schema {version and version[0]!r}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        self._conn.close()

    def contact_of(self, name: str) -> str | None:
        """The contact key a request's name or id stands for, if the memory knows it."""
        row = self._conn.execute("SELECT contact FROM aliases WHERE alias = ?", (name,)).fetchone()
        return row[0] if row else None

    def contacts(self) -> list[str]:
        return [row[0] for row in self._conn.execute("SELECT DISTINCT contact FROM exchanges ORDER BY contact")]

    def facts(self, contact: str | None) -> list[str]:
        """The facts shared with every contact, then the contact's own, in file order."""
        rows = self._conn.execute(
            "SELECT text FROM facts WHERE contact = ? OR contact = ? ORDER BY contact != ?, position",
            (SHARED, contact if contact is not None else SHARED, SHARED),
        )
        return [row[0] for row in rows]

    def similar(self, contact: str, query: str, k: int, exclude_session: str | None = None) -> list[Exchange]:
        """The k exchanges with `contact` most like `query` (bm25), topped up with the latest ones
        when fewer match, so a contact with history always gets some."""
        if k <= 0:
            return []
        quoted = contact.replace('"', '""')  # FTS5 string syntax: a facts-only contact's key is the name written
        found = self._search(query, k, f'contact : "{quoted}" AND ', "1", (), exclude_session)
        if len(found) < k:
            latest = self._rows(
                f"SELECT {_COLUMNS} FROM exchanges e WHERE contact = ? AND session != ? ORDER BY time DESC, id DESC "
                "LIMIT ?",
                (contact, exclude_session or "", 2 * k),
            )
            found += [e for e in latest if e not in found][: k - len(found)]
        return found

    def from_others(self, contact: str, query: str, k: int) -> list[Exchange]:
        """The control: the k exchanges most like `query` from every contact but this one."""
        return self._search(query, k, "", "e.contact != ?", (contact,), None) if k > 0 else []

    def random_of(self, contact: str, k: int, rng: random.Random, exclude_session: str | None = None) -> list[Exchange]:
        """The control: k exchanges of the same contact, drawn at random."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM exchanges e WHERE contact = ? AND session != ? ORDER BY id",
            (contact, exclude_session or ""),
        )
        return rng.sample(rows, min(k, len(rows)))

    def _search(
        self, query: str, k: int, scope: str, where: str, args: tuple, exclude_session: str | None
    ) -> list[Exchange]:
        """bm25 over the friend's and the owner's words; `scope` narrows the MATCH (FTS5 has no unary
        NOT, so "every other contact" is the `where` filter instead)."""
        expression = match_expression(query)
        if expression is None:
            return []
        return self._rows(
            f"SELECT {_COLUMNS} FROM exchange_terms t JOIN exchanges e ON e.id = t.rowid "
            f"WHERE exchange_terms MATCH ? AND {where} AND e.session != ? "
            "ORDER BY bm25(exchange_terms, 0, ?, ?), e.id LIMIT ?",
            (f"{scope}{{friend owner}} : ({expression})", *args, exclude_session or "", FRIEND_WEIGHT, OWNER_WEIGHT, k),
        )

    def _rows(self, sql: str, args: tuple) -> list[Exchange]:
        return [Exchange(*row) for row in self._conn.execute(sql, args)]
