"""Count tokens for the sample budget: a real tokenizer when asked for, else a cheap estimate.

The estimate (one token per non-ASCII character, one per four ASCII characters, plus the chat
template's few tokens per turn) is close enough to window sessions and keeps the importer free of
model downloads and of the seconds a tokenizer takes to load. The import holds every turn's text as a
Python string anyway (for windowing and records), and `estimate` over that list costs a third of what the
same count took as a polars expression (a regex match per ASCII character; issue 31).
"""

from __future__ import annotations

from collections.abc import Callable

TURN_OVERHEAD = 4


def estimate(text: str) -> int:
    if text.isascii():
        return (len(text) + 3) // 4 + TURN_OVERHEAD
    ascii_chars = len(text.encode("ascii", "ignore"))
    return len(text) - ascii_chars + (ascii_chars + 3) // 4 + TURN_OVERHEAD


class TokenCounter:
    """`count(text)` for one turn; `name` says in the report which counter the lengths come from."""

    def __init__(self, name: str, count: Callable[[str], int]):
        self.name = name
        self.count = count


def token_counter(tokenizer: str | None) -> TokenCounter:
    if tokenizer is None:
        return TokenCounter("estimate", estimate)
    from transformers import AutoTokenizer  # only when asked: importing it costs seconds

    loaded = AutoTokenizer.from_pretrained(tokenizer)

    def count(text: str) -> int:
        return len(loaded(text, add_special_tokens=False)["input_ids"]) + TURN_OVERHEAD

    return TokenCounter(tokenizer, count)
