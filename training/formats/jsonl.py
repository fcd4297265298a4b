"""A plain JSONL of messages, for any source without its own importer.

One object a line: `chat`, `sender`, `is_me`, `time` (Unix seconds or milliseconds, or an ISO
time; without an offset it is read in `--timezone`) and `text`. Optional: `chat_name`,
`is_group`, and `kind` (one of the `Kind` values; default "text", anything else is dropped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from wechat_twin.training.formats.support import jsonfile
from wechat_twin.training.formats.support.message import ExportFormatError, Kind, Message, ParseOptions
from wechat_twin.training.formats.support.textio import head
from wechat_twin.training.formats.support.times import parse_time

NAME = "jsonl"
DESCRIPTION = "JSONL of messages: {chat, sender, is_me, time, text}"

REQUIRED = ("chat", "sender", "is_me", "time", "text")
_KINDS = {kind.value: kind for kind in Kind}


def _first_object(path: Path) -> dict | None:
    for line in head(path).splitlines()[:5]:
        if line.strip():
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def detect(path: Path) -> float:
    first = _first_object(path)
    if first is None:
        return 0.0
    if all(key in first for key in REQUIRED):
        return 0.9
    return 0.5 if path.suffix.lower() == ".jsonl" else 0.0


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    first = _first_object(path)
    if first is not None and not any(key in first for key in REQUIRED):
        raise ExportFormatError(
            path, f"JSONL lines need keys {', '.join(REQUIRED)}; line 1 has {', '.join(first) or 'none'}"
        )
    malformed = options.diagnostics.malformed
    for number, line in jsonfile.lines(path, options):
        try:
            message = _message(json.loads(line), options)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            malformed(path, number, _reason(error))
            continue
        yield message


def _message(record: dict, options: ParseOptions) -> Message:
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise KeyError(", ".join(missing))
    time = record["time"]
    if isinstance(time, str):
        timestamp = parse_time(time, options.timezone)
    elif isinstance(time, int | float) and not isinstance(time, bool):
        timestamp = time / 1000 if time > 1e11 else float(time)
    else:
        raise ValueError(f"time {time!r} is neither a number nor a string")
    if not isinstance(record["is_me"], bool):
        raise ValueError("is_me must be true or false")
    kind = _KINDS.get(record.get("kind", "text"))
    if kind is None:
        raise ValueError(f"unknown kind {record['kind']!r}")
    is_group = record.get("is_group")
    chat, sender = str(record["chat"]), str(record["sender"])
    return Message(
        chat,
        str(record.get("chat_name") or chat),
        sender,
        sender,
        record["is_me"],
        timestamp,
        str(record["text"] or ""),
        kind,
        is_group if isinstance(is_group, bool) else None,
    )


def _reason(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON ({error.msg})"
    if isinstance(error, KeyError):
        return f"missing keys: {error.args[0]}"
    if isinstance(error, TypeError):
        return "not a JSON object"
    return str(error)
