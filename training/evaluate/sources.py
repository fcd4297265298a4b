"""Where an evaluation finds what it scores: the adapter's memory and the dataset it was trained on. `eval`,
its canary probe and `compare` read them the same way."""

from __future__ import annotations

from pathlib import Path

from wechat_twin.errors import TwinError
from wechat_twin.memory.store import MEMORY_FILE, MemoryStore
from wechat_twin.server.adapters.adapter_memory import open_memory
from wechat_twin.server.adapters.card import TwinCard


def memory_of(adapter: Path, card: TwinCard, data: Path) -> MemoryStore:
    """The adapter's own memory (what the server would use), else the dataset's."""
    try:
        store = open_memory(adapter, card)
    except ValueError as exc:
        raise TwinError(str(exc)) from exc
    return store if store is not None else MemoryStore(data / MEMORY_FILE)


def trained_on(card: TwinCard) -> Path | None:
    folder = (card.training_args or {}).get("data_dir")
    return Path(folder) if isinstance(folder, str) else None
