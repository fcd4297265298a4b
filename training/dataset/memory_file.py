"""The dataset's memory file: the train split's exchanges per contact, for retrieval at training and serving.

Built from the train records as written (so redacted exactly like the dataset) and never from dev:
evaluation measures replies to dev conversations, and their answers must not be retrievable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from wechat_twin.memory.facts import Facts
from wechat_twin.memory.store import Exchange, build_memory, session_key


def exchanges_of(records: Iterable[dict[str, Any]]) -> Iterator[Exchange]:
    """Every (friend turn, owner reply) pair of the records, with its contact and session."""
    for record in records:
        contact, start = record["chat"], record["session_start"]
        session = session_key(contact, start)
        turns = [m for m in record["messages"] if m["role"] != "system"]
        for friend, owner in zip(turns[::2], turns[1::2], strict=False):
            yield Exchange(contact, session, start, friend["content"], owner["content"])


def memory_file(records: list[dict[str, Any]], aliases: dict[str, str], facts: Facts | None) -> tuple[bytes, dict]:
    """The database's bytes and what the report says about it (counts only, never text)."""
    exchanges = list(exchanges_of(records))
    summary = {
        "exchanges": len(exchanges),
        "contacts": len({e.contact for e in exchanges}),
        "facts": facts.count() if facts else 0,
        "facts_not_shared": facts.not_shared() if facts else 0,
    }
    return build_memory(exchanges, aliases, facts), summary
