"""Read train.jsonl / dev.jsonl and refuse a wrong shape before any model is loaded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from wechat_twin.errors import TwinError

_ROLES = {"system", "user", "assistant"}

Messages = list[dict[str, str]]


class DatasetShapeError(TwinError):
    """The message names the file, the line and what is wrong."""


@dataclass(frozen=True)
class Origin:
    """Where a sample came from, as `twin-train data` records it: what memory retrieval needs."""

    where: str  # file:line, for errors
    chat: str | None
    session_start: str | None


@dataclass
class SampleFile:
    samples: list[Messages]
    session_starts: list[str] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)  # one per sample

    def date_range(self) -> dict[str, str]:
        """First and last session start, when `twin-train data` recorded them (the date split)."""
        if not self.session_starts:
            return {}
        return {"first": min(self.session_starts), "last": max(self.session_starts)}


def _check_sample(record: Any, where: str) -> Messages:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise DatasetShapeError(f"{where}: expected an object with a 'messages' list (run `twin-train data` first)")
    messages = record["messages"]
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise DatasetShapeError(f"{where}: messages[{index}] needs a role of system, user or assistant")
        if not isinstance(message.get("content"), str):
            raise DatasetShapeError(f"{where}: messages[{index}].content must be a string")
    if any(m["role"] == "system" for m in messages[1:]):
        raise DatasetShapeError(f"{where}: a system message may only come first")
    turns = [m["role"] for m in messages if m["role"] != "system"]
    if not turns or turns[0] != "user" or turns[-1] != "assistant":
        raise DatasetShapeError(f"{where}: a sample must start with a user turn and end with an assistant turn")
    for index, (before, after) in enumerate(pairwise(turns)):
        if before == after:
            raise DatasetShapeError(
                f"{where}: two {before} turns in a row (turn {index + 1}); a burst is one turn joined by '\\n'"
            )
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def read_sample_file(path: Path) -> SampleFile:
    if not path.is_file():
        raise DatasetShapeError(f"{path}: no such file (give the folder `twin-train data` wrote)")
    result = SampleFile([])
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetShapeError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            result.samples.append(_check_sample(record, f"{path}:{number}"))
            start, chat = record.get("session_start"), record.get("chat")
            if isinstance(start, str):
                result.session_starts.append(start)
            result.origins.append(
                Origin(
                    f"{path}:{number}",
                    chat if isinstance(chat, str) else None,
                    start if isinstance(start, str) else None,
                )
            )
    if not result.samples:
        raise DatasetShapeError(f"{path}: no samples")
    return result


def read_report(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "report.json"
    if not path.is_file():
        return {}
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetShapeError(f"{path}: not JSON ({exc.msg})") from exc
    if not isinstance(report, dict):
        raise DatasetShapeError(f"{path}: expected a JSON object")
    return report
