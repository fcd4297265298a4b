"""A memory file with two friends' past exchanges and facts, for the serving and bridge tests."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from tests.support.served_copy import served_copy
from wechat_twin.memory.facts import read_facts
from wechat_twin.memory.store import MEMORY_FILE, Exchange, build_memory, session_key

MOM, JIE = "c0ffee000001", "c0ffee000002"
ALIASES = {MOM: MOM, "妈妈": MOM, "wxid_mom": MOM, JIE: JIE, "阿杰": JIE}
UNSHARED_FACT = "My salary is 30k a month."  # before any section: marked for nobody
SHARED_FACT = "I live in Shenzhen."  # under [*]: every contact may be told
FACTS = (
    f"{UNSHARED_FACT}\n[*]\n{SHARED_FACT}\n[妈妈]\nMom grows tomatoes on the balcony.\n"
    "[阿杰]\nJie is my college roommate.\n"
)


def _exchange(contact: str, day: int, friend: str, owner: str) -> Exchange:
    start = f"2024-01-{day:02d}T10:00:00+08:00"
    return Exchange(contact, session_key(contact, start), start, friend, owner)


EXCHANGES = [
    _exchange(MOM, 1, "Did you eat hotpot with your friends?", "yes mom, hotpot was great [呲牙]"),
    _exchange(MOM, 3, "Wear warm clothes, it is cold", "ok ok I know~"),
    _exchange(MOM, 5, "Come home for dinner on Sunday?", "sure, I bring fruit"),
    _exchange(JIE, 2, "hotpot tonight? the spicy one", "go go go, I book the table"),
    _exchange(JIE, 4, "dota later?", "after 10 la"),
]


def write_memory(folder: Path) -> Path:
    facts_path = folder / "facts.txt"
    facts_path.write_text(FACTS, encoding="utf-8")
    path = folder / MEMORY_FILE
    path.write_bytes(build_memory(EXCHANGES, ALIASES, read_facts(facts_path)))
    facts_path.unlink()
    return path


def served_with_memory(server, name: str, weights_of: str = "alice") -> AbstractContextManager[str]:
    """A copy of an adapter (weights and card) plus the memory file, loaded into a running server."""
    return served_copy(server, name, write_memory, of=weights_of)
