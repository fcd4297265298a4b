"""Retrieval for one reply: the contact's most similar past exchanges plus the facts, as the prompt block.

Serving, SFT with `--memory` and evaluation all call `recall`, with the same settings, so the block an
adapter was trained with is the block the server sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from wechat_twin.memory.block import Message, latest_query, memory_block
from wechat_twin.memory.store import MemoryStore


@dataclass(frozen=True)
class RecallSettings:
    k: int = 3  # past exchanges per reply: enough to show a habit or a topic, short enough for small contexts
    MAX_K: ClassVar[int] = 20  # beyond this the block crowds out the conversation in a 2k-token context


def recall(
    store: MemoryStore,
    contact: str,
    messages: Sequence[Message],
    settings: RecallSettings = RecallSettings(),
    exclude_session: str | None = None,
) -> str | None:
    """The block for a reply to `messages` from `contact` (a name, an id or the dataset's key), or None
    when the memory knows nothing about them."""
    key = store.contact_of(contact)
    if key is None:
        return None
    exchanges = store.similar(key, latest_query(messages), settings.k, exclude_session)
    return memory_block(exchanges, store.facts(key))
