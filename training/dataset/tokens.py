"""Count tokens for the sample budget: a real tokenizer when asked for, else a cheap estimate.

The estimate (one token per non-ASCII character, one per four ASCII characters, plus the chat
template's few tokens per turn) is close enough to window sessions and keeps the importer free of
model downloads and of the seconds a tokenizer takes to load.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

TURN_OVERHEAD = 4


def estimate(text: str) -> int:
    if text.isascii():
        return (len(text) + 3) // 4 + TURN_OVERHEAD
    ascii_chars = len(text.encode("ascii", "ignore"))
    return len(text) - ascii_chars + (ascii_chars + 3) // 4 + TURN_OVERHEAD


def estimate_column(text: pl.Expr) -> pl.Expr:
    """`estimate` over a whole column, natively: the same numbers (a text's length counts code points in
    both), without a Python call per turn."""
    ascii_chars = text.str.count_matches(r"[\x00-\x7f]")
    return (text.str.len_chars() - ascii_chars + (ascii_chars + 3) // 4 + TURN_OVERHEAD).cast(pl.Int64)


class TokenCounter:
    """`count(text)` for one turn; `name` says in the report which counter the lengths come from;
    `column`, where there is one, counts a whole column of texts at once."""

    def __init__(self, name: str, count: Callable[[str], int], column: Callable[[pl.Expr], pl.Expr] | None = None):
        self.name = name
        self.count = count
        self.column = column


def token_counter(tokenizer: str | None) -> TokenCounter:
    if tokenizer is None:
        return TokenCounter("estimate", estimate, estimate_column)
    from transformers import AutoTokenizer  # only when asked: importing it costs seconds

    loaded = AutoTokenizer.from_pretrained(tokenizer)

    def count(text: str) -> int:
        return len(loaded(text, add_special_tokens=False)["input_ids"]) + TURN_OVERHEAD

    return TokenCounter(tokenizer, count)
