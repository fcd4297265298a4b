"""The memory an adapter folder carries: `memory.sqlite` beside the weights, or the file its card names
inside the folder.

Opened once when the adapter is loaded, so a broken file is refused then (as a bad adapter), not on
some friend's message later.
"""

from __future__ import annotations

from pathlib import Path

from wechat_twin.memory.store import MEMORY_FILE, MemoryFileError, MemoryStore
from wechat_twin.server.adapters.card import TwinCard


def _inside(folder: Path, named: str) -> Path:
    """The card's memory path, which must stay in the adapter's own folder: a dropped-in or run-time-loaded
    adapter must not serve another clone's memory (no absolute path, no `..`, no symlink out)."""
    relative = Path(named)
    if relative.is_absolute() or named.startswith("~") or ".." in relative.parts:
        raise ValueError(f"twin.json memory {named!r} must be a path inside the adapter folder, without '..'")
    path = folder / relative
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"twin.json memory {named!r} leads outside the adapter folder (a symlink)")
    return path


def memory_path(folder: Path, card: TwinCard | None) -> Path | None:
    """Where the folder's memory is, or None when it has none; ValueError when the card or a symlink leads
    out of the folder. No file is opened: the server checks every clone's folder so at start-up."""
    named = card.memory if card else None
    try:
        path = _inside(folder, named) if named else folder / MEMORY_FILE
    except ValueError as exc:
        raise ValueError(f"{folder.name}: {exc}") from exc
    if not named and path.is_file() and not path.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"{folder.name}: {MEMORY_FILE} leads outside the adapter folder (a symlink)")
    if not named and not path.is_file():
        return None
    return path


def open_memory(folder: Path, card: TwinCard | None) -> MemoryStore | None:
    """The folder's memory, or None when it has none; ValueError names a file the card points to in vain
    or outside the folder."""
    path = memory_path(folder, card)
    if path is None:
        return None
    try:
        return MemoryStore(path)
    except MemoryFileError as exc:
        raise ValueError(f"{folder.name}: twin.json memory: {exc}") from exc
