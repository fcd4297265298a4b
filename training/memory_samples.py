"""Samples with the memory block the server would send: SFT `--memory` and evaluation's memory rows.

Each sample gets the block retrieved for its last friend turn from the same contact's *other*
sessions (its own session is left out: a sample must not see its own answer), through the same
`recall` the server uses. The memory file only holds the train split, so dev never leaks in.
"""

from __future__ import annotations

from pathlib import Path

from wechat_twin.memory.block import with_memory
from wechat_twin.memory.recall import RecallSettings, recall
from wechat_twin.memory.store import MEMORY_FILE, MemoryStore, session_key
from wechat_twin.training.common.samples import DatasetShapeError, Messages, Origin


def dataset_memory(data_dir: Path) -> MemoryStore:
    """The memory `twin-train data` wrote beside the dataset (MemoryFileError if there is none)."""
    return MemoryStore(Path(data_dir) / MEMORY_FILE)


def own_session(origin: Origin) -> str:
    if origin.chat is None or origin.session_start is None:
        raise DatasetShapeError(
            f"{origin.where}: no 'chat' and 'session_start': memory needs the dataset as `twin-train data` writes it"
        )
    return session_key(origin.chat, origin.session_start)


def with_recalled(
    samples: list[Messages], origins: list[Origin], store: MemoryStore, settings: RecallSettings = RecallSettings()
) -> list[Messages]:
    """The samples, each with its contact's block after the system prompt (unchanged where nothing is known)."""
    out = []
    for messages, origin in zip(samples, origins, strict=True):
        session = own_session(origin)
        prompt = messages[:-1]  # what the server would have been sent for the sample's last reply
        out.append(with_memory(messages, recall(store, origin.chat, prompt, settings, exclude_session=session)))
    return out
