"""The memory an adapter folder carries: `memory.sqlite` beside the weights, or the file its card names.

Opened once when the adapter is loaded, so a broken file is refused then (as a bad adapter), not on
some friend's message later.
"""

from __future__ import annotations

from pathlib import Path

from wechat_twin.memory.store import MEMORY_FILE, MemoryFileError, MemoryStore
from wechat_twin.server.adapters.card import TwinCard


def open_memory(folder: Path, card: TwinCard | None) -> MemoryStore | None:
    """The folder's memory, or None when it has none; ValueError names a file the card points to in vain."""
    named = card.memory if card else None
    path = (folder / named if named else folder / MEMORY_FILE).expanduser()
    if not named and not path.is_file():
        return None
    try:
        return MemoryStore(path)
    except MemoryFileError as exc:
        raise ValueError(f"{folder.name}: twin.json memory: {exc}") from exc
