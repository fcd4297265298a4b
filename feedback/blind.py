"""The blind test's trials and picks, in the feedback database beside the exchanges (SQLite or PostgreSQL).

A trial is one held-out moment shown to one judge: the owner's real reply and the clone's, in an order drawn
by the server (`owner_side`: 0 when the owner's is on the left). The judge's pick is the side they took for the
owner's; they were fooled when it is the clone's. Trials are kept apart from `exchanges`: a pick is not a
preference between two of the clone's replies, and `twin-train dpo` must never train on it.

Schema: `blind_trials(id, adapter, base_model, contact, moment, judge, context, candidates, owner_side, picked,
created_at, picked_at)`; `picked` is NULL until the judge picks (once: a second pick raises `ChoiceTaken`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from wechat_twin.feedback.store import ChoiceTaken, FeedbackStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blind_trials (
    id INTEGER PRIMARY KEY AUTOINCREMENT, adapter TEXT NOT NULL, base_model TEXT, contact TEXT NOT NULL,
    moment TEXT NOT NULL, judge TEXT NOT NULL, context TEXT NOT NULL, candidates TEXT NOT NULL,
    owner_side INTEGER NOT NULL, picked INTEGER, created_at REAL NOT NULL, picked_at REAL);
"""


@dataclass(frozen=True)
class Tally:
    """One clone version's judgements on one contact: how many, and how many took the clone for the owner."""

    adapter: str
    contact: str
    judgements: int
    fooled: int


class BlindTrials:
    """Over the feedback store's connection, as the bridge's tables are."""

    def __init__(self, store: FeedbackStore) -> None:
        self._store = store
        store.connection.executescript(_SCHEMA)

    def record_trial(
        self,
        adapter: str,
        base_model: str | None,
        contact: str,
        moment: str,
        judge: str,
        context: list[dict[str, str]],
        candidates: list[str],
        owner_side: int,
    ) -> int:
        return self._store.write(
            "INSERT INTO blind_trials(adapter, base_model, contact, moment, judge, context, candidates, owner_side, "
            "created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                adapter,
                base_model,
                contact,
                moment,
                judge,
                json.dumps(context, ensure_ascii=False),
                json.dumps(candidates, ensure_ascii=False),
                owner_side,
                time.time(),
            ),
        )

    def find(self, trial_id: int) -> dict[str, Any] | None:
        row = self._store.connection.execute("SELECT * FROM blind_trials WHERE id=?", (trial_id,)).fetchone()
        return dict(row) if row else None

    def seen(self, adapter: str, judge: str) -> set[str]:
        """The moments this judge was already shown on this clone: a new trial prefers another."""
        rows = self._store.connection.execute(
            "SELECT DISTINCT moment FROM blind_trials WHERE adapter=? AND judge=?", (adapter, judge)
        ).fetchall()
        return {row["moment"] for row in rows}

    def record_pick(self, trial_id: int, picked: int) -> None:
        """The first pick stands: another (a second tab, another replica) raises `ChoiceTaken` and writes nothing.
        The row is locked while this looks (`FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` lets one writer in)."""
        lock = " FOR UPDATE" if self._store.postgres else ""
        with self._store.transaction() as db:
            row = db.execute(f"SELECT picked FROM blind_trials WHERE id=?{lock}", (trial_id,)).fetchone()
            if row["picked"] is not None:
                raise ChoiceTaken(f"trial {trial_id} was already judged")
            db.execute("UPDATE blind_trials SET picked=?, picked_at=? WHERE id=?", (picked, time.time(), trial_id))

    def tallies(self) -> list[Tally]:
        """Per clone version (the adapter name as served) and contact; trials never picked are not judgements."""
        rows = self._store.connection.execute(
            "SELECT adapter, contact, COUNT(*) AS judgements, "
            "SUM(CASE WHEN picked <> owner_side THEN 1 ELSE 0 END) AS fooled "
            "FROM blind_trials WHERE picked IS NOT NULL GROUP BY adapter, contact ORDER BY adapter, contact"
        ).fetchall()
        return [Tally(r["adapter"], r["contact"], int(r["judgements"]), int(r["fooled"])) for r in rows]
