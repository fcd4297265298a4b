"""Owner-only files: the one way every command writes what chat history became.

Datasets, memory files, adapter folders (weights, `twin.json`, `log_history.json`, `loss.png`), SFT
checkpoints with their optimizer state, evaluation reports, merged exports, the bridge's database, its
login and the feedback it exports all hold the owner's and their friends' messages, or what was learned
from them. So folders are 0700 and files 0600, whatever the user's umask: a mode is set, never left to a
umask that could only have narrowed it. Files are written beside their final name and renamed into
place, so a reader (the server scanning adapters, a re-run) never sees half a file.

Libraries that write files themselves (the Trainer's checkpoints, peft's `save_pretrained`, a
tokenizer's files) run inside `owner_only_umask()`, and their folder is then `lock_down`-ed, which
also narrows a file that existed before with a wider mode. Standard library only: the bridge, the server
and training all import it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700
OWNER_ONLY_UMASK = 0o077


def make_dirs(path: Path) -> Path:
    """`path` and its missing parents, each created 0700; folders that already exist are left as they are
    (the working folder a user keeps the bridge's database in is theirs to set)."""
    path = Path(path)
    missing: list[Path] = []
    level = path
    while not level.exists() and level != level.parent:
        missing.append(level)
        level = level.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)
    return path


def private_dir(path: Path) -> Path:
    """A folder a command writes its results into (`--out`): created if missing, 0700 either way."""
    folder = make_dirs(path)
    os.chmod(folder, DIR_MODE)
    return folder


@contextmanager
def open_private(path: Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """A new file for `path`, 0600 from its first byte, renamed over `path` once the block ends without an
    error (then flushed to disk); on an error the old file, if any, is left and the partial one removed."""
    with _partial(path) as (fd, _), open(fd, mode, encoding=encoding) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


@contextmanager
def private_path(path: Path) -> Iterator[Path]:
    """`open_private` for a library that writes a file by its name (SQLite): the block gets the name of a
    new, empty 0600 file beside `path`, renamed over `path` (flushed to disk first) once the block ends
    without an error; on an error the partial file is removed."""
    with _partial(path) as (fd, partial):
        try:
            yield Path(partial)
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def _partial(path: Path) -> Iterator[tuple[int, str]]:
    """A new 0600 file beside `path` (its descriptor and name), renamed over `path` when the block ends."""
    path = Path(path)
    make_dirs(path.parent)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.fchmod(fd, FILE_MODE)  # mkstemp makes it 0600 already; the mode is stated, not assumed
    try:
        yield fd, partial
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def write_private(path: Path, data: bytes | str) -> Path:
    """`data` written to `path` owner-only and atomically; text as UTF-8."""
    with open_private(path, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def copy_private(source: Path, target: Path) -> Path:
    """A copy of `source` at `target`, owner-only whatever mode `source` has."""
    with Path(source).open("rb") as reader, open_private(target, "wb") as writer:
        shutil.copyfileobj(reader, writer)
    return Path(target)


def touch_private(path: Path) -> Path:
    """`path` exists and is 0600 (a database before SQLite opens it: its -wal and -shm files copy its mode)."""
    path = Path(path)
    make_dirs(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    os.chmod(path, FILE_MODE)
    return path


def lock_down(folder: Path) -> Path:
    """Every folder under `folder` (itself included) made 0700 and every file 0600: after a library wrote
    into it, and over modes a file had before. Symbolic links are not followed."""
    folder = Path(folder)
    os.chmod(folder, DIR_MODE)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            if not os.path.islink(os.path.join(root, name)):
                os.chmod(os.path.join(root, name), DIR_MODE)
        for name in files:
            if not os.path.islink(os.path.join(root, name)):
                os.chmod(os.path.join(root, name), FILE_MODE)
    return folder


@contextmanager
def owner_only_umask() -> Iterator[None]:
    """Files and folders that a library creates inside the block are the owner's alone from their first
    byte (0600 and 0700). The umask belongs to the whole process: the commands that use this run their
    writers in one thread, and the previous umask is back when the block ends."""
    previous = os.umask(OWNER_ONLY_UMASK)
    try:
        yield
    finally:
        os.umask(previous)
