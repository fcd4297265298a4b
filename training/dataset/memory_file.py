"""The dataset's memory file: the train split's exchanges per contact, for retrieval at training and serving.

Built from the train records as written (so redacted exactly like the dataset) and never from dev:
evaluation measures replies to dev conversations, and their answers must not be retrievable.

The search terms are made over whole columns in polars, not one text at a time in Python: they were
most of the import's time (issue 31). They are the terms `wechat_twin.memory.terms.indexed` makes,
exactly: its word characters are Python's `\\w`, so the class polars matches is read off Python's own
regex engine (every code point it calls a word character, outside the CJK ranges), and words that are
not ASCII are lowercased by Python's `str.lower`.
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
from wechat_twin.memory.terms import CJK

CHUNK_TEXTS = 100_000  # texts per polars pass: bounds the exploded term table (a few terms per text)


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
    cjk_class, word_class = _classes()
    run = pl.col("run")
    runs = (
        texts.str.extract_all(f"[{cjk_class}]+|[{word_class}]+")
        .rename("run")
        .to_frame()
        .with_row_index("row")
        .explode("run")
        .drop_nulls("run")
    )
    is_cjk, ascii_only = run.str.contains(f"^[{cjk_class}]"), run.str.contains(r"^[\x00-\x7f]*$")
    runs = runs.with_columns(
        is_cjk=is_cjk, lower=pl.when(is_cjk).then(run).when(ascii_only).then(run.str.to_lowercase())
    )
    others = runs.filter(pl.col("lower").is_null())["run"].unique()  # non-ASCII words: Python lowercases them
    if others.len():
        lowered = pl.Series([word.lower() for word in others.to_list()], dtype=pl.String)
        runs = runs.with_columns(pl.col("lower").fill_null(run.replace(others, lowered)))
    count = run.str.len_chars()
    terms = (
        runs.with_columns(offset=pl.int_ranges(0, pl.when(pl.col("is_cjk") & (count > 1)).then(count - 1).otherwise(1)))
        .explode("offset")
        .select("row", term=pl.when(pl.col("is_cjk")).then(run.str.slice(pl.col("offset"), 2)).otherwise("lower"))
        .group_by("row", maintain_order=True)
        .agg(pl.col("term").str.join(" "))
    )
    joined = pl.repeat("", texts.len(), eager=True, dtype=pl.String)
    return joined.scatter(terms["row"], terms["term"]).to_list()


@cache
def _classes() -> tuple[str, str]:
    """The CJK ranges and Python's `\\w` outside them, as classes polars' regex engine reads."""
    codes = np.arange(0x110000, dtype="<u4")
    everything = codes[(codes < 0xD800) | (codes > 0xDFFF)].tobytes().decode("utf-32-le")
    ranges = [(m.group()[0], m.group()[-1]) for m in re.finditer(f"[^\\W{CJK}]+", everything)]
    word = "".join(_escape(a) if a == b else f"{_escape(a)}-{_escape(b)}" for a, b in ranges)
    cjk = "".join(_escape(c) if c != "-" else "-" for c in CJK)
    return cjk, word


def _escape(char: str) -> str:
    return f"\\x{{{ord(char):x}}}"
