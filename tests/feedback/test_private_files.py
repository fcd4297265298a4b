"""Every file the feedback store and its export leave on disk holds chat text, so each is the owner's alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wechat_twin.feedback.export import export_feedback
from wechat_twin.feedback.store import FeedbackStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The loosest umask a user may have: whatever is owner-only then is so because the code made it so."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_the_database_and_its_wal_and_shm_files_are_owner_only(tmp_path: Path, open_umask) -> None:
    database = tmp_path / "state" / "feedback.db"
    store = FeedbackStore(database)
    try:
        store.record_exchange(
            "@friend", "Mia", "alice", "SmolLM2-135M-Instruct", [{"role": "user", "content": "dinner?"}], reply="yes!"
        )
        wal, shm = database.with_name("feedback.db-wal"), database.with_name("feedback.db-shm")
        assert wal.is_file() and shm.is_file(), "WAL mode keeps these beside the database while it is open"
        assert {path.name: mode(path) for path in (database, wal, shm)} == dict.fromkeys(
            ("feedback.db", "feedback.db-wal", "feedback.db-shm"), 0o600
        )
    finally:
        store.close()


def test_an_existing_readable_database_is_made_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "feedback.db"
    database.touch(mode=0o644)
    os.chmod(database, 0o644)
    FeedbackStore(database).close()
    assert mode(database) == 0o600


def test_both_exported_files_are_owner_only(tmp_path: Path, open_umask) -> None:
    store = FeedbackStore(tmp_path / "feedback.db")
    context = [{"role": "user", "content": "dinner?"}]
    pair = store.record_exchange("@friend", "Mia", "alice", None, context, candidates=["yes!", "no."])
    store.record_choice(pair, 0, "owner")
    label = store.record_exchange("@friend", "Mia", "alice", None, context, reply="yes!")
    store.record_label(label, True, "owner")
    store.close()
    assert export_feedback(tmp_path / "feedback.db", tmp_path / "out") == (1, 1)
    assert {p.name: mode(p) for p in (tmp_path / "out").iterdir()} == {
        "preference.jsonl": 0o600,
        "unpaired.jsonl": 0o600,
    }
