"""The one owner-only writer: exact modes whatever the umask, atomic replacement, and libraries' files narrowed."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from wechat_twin.private_files import (
    copy_private,
    lock_down,
    make_dirs,
    open_private,
    owner_only_umask,
    private_dir,
    private_path,
    touch_private,
    write_private,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def open_umask():
    """The loosest umask a user may have: an owner-only mode is then the code's doing."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_files_and_new_folders_are_owner_only_and_existing_folders_are_left(tmp_path, open_umask):
    os.chmod(tmp_path, 0o755)
    path = write_private(tmp_path / "a" / "b" / "report.json", "{}")
    modes = (mode(tmp_path), mode(tmp_path / "a"), mode(tmp_path / "a" / "b"), mode(path))
    assert modes == (0o755, 0o700, 0o700, 0o600)
    assert path.read_text() == "{}"
    assert make_dirs(tmp_path) == tmp_path and mode(tmp_path) == 0o755
    assert mode(private_dir(tmp_path)) == 0o700, "a command's own --out folder is made private"


def test_a_readable_file_is_replaced_by_a_private_one(tmp_path, open_umask):
    path = tmp_path / "eval.md"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_private(path, "new")
    assert (path.read_text(), mode(path)) == ("new", 0o600)
    copy = copy_private(path, tmp_path / "copy.md")
    assert (copy.read_text(), mode(copy)) == ("new", 0o600)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    path = write_private(tmp_path / "train.jsonl", "old\n")
    with pytest.raises(RuntimeError), open_private(path, "w", encoding="utf-8") as handle:
        handle.write("half")
        raise RuntimeError("crash")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]


def test_a_file_a_library_writes_by_name_is_owner_only_and_appears_only_when_complete(tmp_path, open_umask):
    """SQLite writes the memory file by its name: it gets a 0600 partial beside the target, renamed in
    at the end; a failure leaves the old file and no partial."""
    target = tmp_path / "memory.sqlite"
    with private_path(target) as partial:
        assert partial.parent == tmp_path and mode(partial) == 0o600 and not target.exists()
        conn = sqlite3.connect(partial)
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        conn.close()
    assert mode(target) == 0o600 and sqlite3.connect(target).execute("SELECT count(*) FROM t").fetchone() == (0,)
    before = target.read_bytes()
    with pytest.raises(RuntimeError), private_path(target) as partial:
        partial.write_bytes(b"half")
        raise RuntimeError("crash while building")
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["memory.sqlite"]


def test_a_database_file_is_created_or_narrowed_to_owner_only(tmp_path, open_umask):
    fresh = touch_private(tmp_path / "state" / "feedback.db")
    existing = tmp_path / "old.db"
    existing.write_bytes(b"x")
    os.chmod(existing, 0o664)
    assert (mode(fresh), mode(touch_private(existing)), existing.read_bytes()) == (0o600, 0o600, b"x")


def test_what_a_library_writes_is_owner_only_and_lock_down_narrows_what_was_there(tmp_path, open_umask):
    folder = private_dir(tmp_path / "adapter")
    with owner_only_umask():  # as the Trainer, peft or matplotlib write: plain open() and makedirs
        os.makedirs(folder / "checkpoint-2")
        (folder / "checkpoint-2" / "optimizer.pt").write_bytes(b"state")
    assert mode(folder / "checkpoint-2") == 0o700 and mode(folder / "checkpoint-2" / "optimizer.pt") == 0o600
    (folder / "loss.png").write_bytes(b"png")
    os.chmod(folder / "loss.png", 0o644)
    os.chmod(folder / "checkpoint-2", 0o755)
    lock_down(folder)
    assert {p.name: mode(p) for p in folder.rglob("*")} == {
        "checkpoint-2": 0o700,
        "optimizer.pt": 0o600,
        "loss.png": 0o600,
    }
    assert os.umask(0) == 0, "the umask is given back after the block"
