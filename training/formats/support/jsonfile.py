"""Read JSON exports, whole-file or a record a line, with the one error a broken file gets: the
file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wechat_twin.training.formats.support.message import ExportFormatError, ParseOptions
from wechat_twin.training.formats.support.textio import decode_error, open_text


def load(path: Path, options: ParseOptions) -> Any:
    try:
        with open_text(path, options, newline=None) as f:
            return json.load(f)
    except UnicodeDecodeError as error:
        raise decode_error(path, error) from error
    except json.JSONDecodeError as error:
        raise ExportFormatError(path, f"not valid JSON (line {error.lineno}: {error.msg})") from error


def lines(path: Path, options: ParseOptions) -> Iterator[tuple[int, str]]:
    """(line number, line) for each non-blank line of a JSONL file."""
    try:
        with open_text(path, options, newline=None) as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    yield number, line
    except UnicodeDecodeError as error:
        raise decode_error(path, error) from error


def number(record: dict[str, Any], key: str) -> float:
    """A numeric field, or a ValueError naming it (for the malformed-row report)."""
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} is {value!r}, not a number")
    return value
