"""The dataset's memory file: the train split's exchanges per contact, for retrieval at training and serving.

Built from the train records as written (so redacted exactly like the dataset) and never from dev:
evaluation measures replies to dev conversations, and their answers must not be retrievable.

The search terms are made over whole columns as arrays of code points, not one text at a time in Python
(issue 31). They are the terms `wechat_twin.memory.terms.indexed` makes, exactly: its word characters are
Python's `\\w`, so the class table is read off Python's own regex engine (every code point it calls a
word character, outside the CJK ranges), and a text with letters outside ASCII and CJK (whose lowercase
is not simply ASCII's) is left to `indexed` itself.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from wechat_twin.memory.facts import Facts
from wechat_twin.memory.store import write_memory
from wechat_twin.memory.terms import CJK, indexed

# Word characters are read off planes 0 to 3 only (a quarter of the time): the planes above hold no letter
# or digit (4 to 13 are unassigned, 14 holds tags and selectors, 15 and 16 private use), which a test
# checks against the whole range for the Python that runs it.
WORD_PLANES_END = 0x40000
CHUNK_TEXTS = 10_000  # texts per pass: bounds the arrays each pass makes (about 70 bytes per code point)
_NEITHER, _WORD, _CJK = 0, 1, 2
_SPACE = ord(" ")


EXCHANGE_COLUMNS = ("contact", "session", "time", "friend", "owner")


def exchange_columns() -> dict[str, list[str]]:
    """Empty columns for every (friend turn, owner reply) pair of the train records, with its contact and
    session: the import fills them while it makes the records (`pipeline._records`), from the same redacted
    texts, instead of walking the records again."""
    return {name: [] for name in EXCHANGE_COLUMNS}


def memory_file(
    columns: dict[str, list[str]], aliases: dict[str, str], facts: Facts | None
) -> tuple[Callable[[Path], None], dict]:
    """What builds the database at a path, and what the report says about it (counts only, never text)."""
    summary = {
        "exchanges": len(columns["contact"]),
        "contacts": len(set(columns["contact"])),
        "facts": facts.count() if facts else 0,
        "facts_not_shared": facts.not_shared() if facts else 0,
    }

    def build(path: Path) -> None:
        friend, owner = indexed_column(columns["friend"]), indexed_column(columns["owner"])
        rows = zip(*(columns[name] for name in EXCHANGE_COLUMNS), strict=True)
        write_memory(path, rows, zip(columns["contact"], friend, owner, strict=True), aliases, facts)

    return build, summary


def indexed_column(texts: list[str]) -> list[str]:
    """`indexed(text)` for every text, in order."""
    out: list[str] = []
    for start in range(0, len(texts), CHUNK_TEXTS):
        out += _indexed_chunk(texts[start : start + CHUNK_TEXTS])
    return out


def _indexed_chunk(texts: list[str]) -> list[str]:
    """The texts as one array of code points, each classed (word, CJK, neither) by a lookup table; each
    code point then writes up to three: a space where a term starts, itself (lowercased where ASCII), and
    the next one where it opens a CJK bigram. One pass of array operations instead of a regex pass per step
    (four times faster than polars' regexes, whose CJK bigrams needed capture groups). Separators (code
    point 0, never a term) around the texts come out as themselves and cut the result back into texts.
    Texts with letters outside ASCII and CJK (whose lowercase is Python's to say) are left to `indexed`."""
    if not texts:
        return []
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    bounds = np.concatenate(([0], np.cumsum(lengths + 1)))  # where each separator is, the last one included
    codes = np.frombuffer(("\0" + "\0".join(texts) + "\0").encode("utf-32-le"), dtype="<u4")
    kind = _kinds()[codes]
    before, after = np.empty_like(kind), np.empty_like(kind)
    before[0], before[1:] = _NEITHER, kind[:-1]
    after[-1], after[:-1] = _NEITHER, kind[1:]
    first, last = kind != before, kind != after  # where runs start and end
    word, cjk = kind == _WORD, kind == _CJK
    bigram = cjk & ~last  # a CJK character with the next one of its run: a bigram's first half
    single = cjk & first & last  # a lone CJK character is its own term
    written = word | bigram | single
    written[bounds] = True
    slots = np.empty((codes.size, 3), dtype="<u4")
    slots[:, 0] = _SPACE
    slots[:, 1] = codes
    slots[:-1, 2], slots[-1, 2] = codes[1:], 0
    slots[(codes >= ord("A")) & (codes <= ord("Z")), 1] += ord("a") - ord("A")
    keep = np.empty((codes.size, 3), dtype=bool)
    keep[:, 0] = (word & first) | bigram | single
    keep[:, 1] = written
    keep[:, 2] = bigram
    joined = slots[keep].tobytes().decode("utf-32-le")
    out = joined.replace("\0 ", "\0").split("\0")[1:-1]  # no space before a text's first term
    for i in np.unique(np.searchsorted(bounds, np.flatnonzero(word & (codes >= 0x80))) - 1).tolist():
        out[i] = indexed(texts[i])
    return out


def word_ranges(end: int = WORD_PLANES_END) -> list[tuple[str, str]]:
    """Runs of code points below `end` that Python's regex engine calls `\\w`, outside the CJK ranges."""
    codes = np.arange(end, dtype="<u4")
    everything = codes[(codes < 0xD800) | (codes > 0xDFFF)].tobytes().decode("utf-32-le")
    return [(m.group()[0], m.group()[-1]) for m in re.finditer(f"[^\\W{CJK}]+", everything)]


@cache
def _kinds() -> np.ndarray:
    """Every code point's class: `_WORD` (Python's `\\w` outside CJK), `_CJK` (`CJK`'s ranges) or neither."""
    table = np.zeros(sys.maxunicode + 1, dtype=np.uint8)
    for a, b in word_ranges():
        table[ord(a) : ord(b) + 1] = _WORD
    for a, b in re.findall("(.)-(.)", CJK):
        table[ord(a) : ord(b) + 1] = _CJK
    return table
