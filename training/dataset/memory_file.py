"""The dataset's memory file: the train split's exchanges per contact, for retrieval at training and serving.

Built from the train records as written (so redacted exactly like the dataset) and never from dev:
evaluation measures replies to dev conversations, and their answers must not be retrievable.

The search terms are made over whole columns in polars, not one text at a time in Python (issue 31).
They are the terms `wechat_twin.memory.terms.indexed` makes, exactly: its word characters are Python's
`\\w`, so the class polars matches is read off Python's own regex engine (every code point it calls a
word character, outside the CJK ranges), and a text with letters outside ASCII and CJK (whose
lowercase polars and Python may spell differently) is left to `indexed` itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from wechat_twin.memory.facts import Facts
from wechat_twin.memory.store import session_key, write_memory
from wechat_twin.memory.terms import CJK, indexed

# Word characters are read off planes 0 to 3 only (a quarter of the time): the planes above hold no letter
# or digit (4 to 13 are unassigned, 14 holds tags and selectors, 15 and 16 private use), which a test
# checks against the whole range for the Python that runs it.
WORD_PLANES_END = 0x40000
CHUNK_TEXTS = 100_000  # texts per polars pass: bounds the copies each pass makes
_MARK = "\x01"  # between a CJK run's bigrams while they are made (never in a term)


def exchange_columns(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Every (friend turn, owner reply) pair of the records, with its contact and session, as columns."""
    columns: dict[str, list[str]] = {name: [] for name in ("contact", "session", "time", "friend", "owner")}
    contact_, session_, time_, friend_, owner_ = columns.values()
    for record in records:
        contact, start = record["chat"], record["session_start"]
        session = session_key(contact, start)
        turns = [m["content"] for m in record["messages"] if m["role"] != "system"]
        friends, owners = turns[::2], turns[1::2]
        n = min(len(friends), len(owners))
        contact_ += [contact] * n
        session_ += [session] * n
        time_ += [start] * n
        friend_ += friends[:n]
        owner_ += owners[:n]
    return columns


def memory_file(
    records: list[dict[str, Any]], aliases: dict[str, str], facts: Facts | None
) -> tuple[Callable[[Path], None], dict]:
    """What builds the database at a path, and what the report says about it (counts only, never text)."""
    columns = exchange_columns(records)
    summary = {
        "exchanges": len(columns["contact"]),
        "contacts": len(set(columns["contact"])),
        "facts": facts.count() if facts else 0,
        "facts_not_shared": facts.not_shared() if facts else 0,
    }

    def build(path: Path) -> None:
        friend, owner = indexed_column(columns["friend"]), indexed_column(columns["owner"])
        rows = zip(*columns.values(), strict=True)
        write_memory(path, rows, zip(columns["contact"], friend, owner, strict=True), aliases, facts)

    return build, summary


def indexed_column(texts: list[str]) -> list[str]:
    """`indexed(text)` for every text, in order."""
    out: list[str] = []
    for start in range(0, len(texts), CHUNK_TEXTS):
        out += _indexed_chunk(pl.Series("text", texts[start : start + CHUNK_TEXTS], dtype=pl.String))
    return out


def _indexed_chunk(texts: pl.Series) -> list[str]:
    """The runs joined by spaces, then each CJK run turned into its bigrams with regular expressions alone
    (no lookaround there): every CJK character doubled around a mark (ABC -> A|AB|BC|C), the first and
    last halves of each run dropped (a run of one keeps one), the marks made spaces. Lowercasing is
    polars' where the terms are ASCII and CJK (no case there, and ASCII's is the same everywhere);
    texts with other letters are done by `indexed`."""
    cjk, word = _classes()
    joined = texts.str.extract_all(f"[{cjk}]+|[{word}]+").list.join(" ")
    bigrams = (
        joined.str.replace_all(f"[{cjk}]", f"${{0}}{_MARK}${{0}}")
        .str.replace_all(f"[{cjk}]{_MARK}([^ ]*){_MARK}[{cjk}]|([{cjk}]){_MARK}[{cjk}]", "${1}${2}")
        .str.replace_all(_MARK, " ", literal=True)
    )
    other_letters = bigrams.str.contains(f"[^\\x00-\\x7f{cjk}]")
    out = bigrams.str.to_lowercase().to_list()
    for i in other_letters.arg_true().to_list():
        out[i] = indexed(texts[i])
    return out


def word_ranges(end: int = WORD_PLANES_END) -> list[tuple[str, str]]:
    """Runs of code points below `end` that Python's regex engine calls `\\w`, outside the CJK ranges."""
    codes = np.arange(end, dtype="<u4")
    everything = codes[(codes < 0xD800) | (codes > 0xDFFF)].tobytes().decode("utf-32-le")
    return [(m.group()[0], m.group()[-1]) for m in re.finditer(f"[^\\W{CJK}]+", everything)]


@cache
def _classes() -> tuple[str, str]:
    """The CJK ranges and Python's `\\w` outside them, as classes polars' regex engine reads."""
    word = "".join(_escape(a) if a == b else f"{_escape(a)}-{_escape(b)}" for a, b in word_ranges())
    cjk = "".join(_escape(c) if c != "-" else "-" for c in CJK)
    return cjk, word


def _escape(char: str) -> str:
    return f"\\x{{{ord(char):x}}}"
