"""Messages as polars columns: what the pipeline cleans, groups, sorts and cuts into turns.

A million messages as Python objects cost more to build, walk and free than every rule the
pipeline applies to them, so between parsing and turns the messages live in columns and the
per-message rules run in polars' native code; Python sees one object per turn. Parsers still
translate a file into `Message`s, one format at a time, and `from_messages` makes the table; a
format whose files polars reads as they are (MemoTrace 1.x CSV) builds its table directly.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from wechat_twin.training.formats.support.message import Message

SCHEMA = {
    "chat_id": pl.String,
    "chat_name": pl.String,
    "sender_id": pl.String,
    "sender_name": pl.String,
    "is_me": pl.Boolean,
    "timestamp": pl.Float64,
    "text": pl.String,
    "kind": pl.String,  # a `Kind`'s value
    "is_group": pl.Boolean,  # null where only the whole chat can tell
}


def display_name() -> pl.Expr:
    """How a speaker is shown: the name the export gives, else the id."""
    return pl.when(pl.col("sender_name") != "").then(pl.col("sender_name")).otherwise(pl.col("sender_id"))


def from_messages(messages: Iterable[Message]) -> pl.DataFrame:
    rows = list(messages)
    return pl.DataFrame(
        {
            "chat_id": [m.chat_id for m in rows],
            "chat_name": [m.chat_name for m in rows],
            "sender_id": [m.sender_id for m in rows],
            "sender_name": [m.sender_name for m in rows],
            "is_me": [m.is_me for m in rows],
            "timestamp": [float(m.timestamp) for m in rows],
            "text": [m.text for m in rows],
            "kind": [m.kind.value for m in rows],
            "is_group": [m.is_group for m in rows],
        },
        schema=SCHEMA,
    )


def concat(tables: list[pl.DataFrame]) -> pl.DataFrame:
    """All files' messages in reading order, with `order` (that position) for stable sorts."""
    table = pl.concat(tables, how="vertical") if tables else pl.DataFrame(schema=SCHEMA)
    return table.with_row_index("order")
