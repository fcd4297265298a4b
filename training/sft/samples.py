"""Read train.jsonl / dev.jsonl and refuse a wrong shape before any model is loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_ROLES = {"system", "user", "assistant"}


class DatasetShapeError(ValueError):
    """The message names the file, the line and what is wrong."""


def _check_sample(record: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise DatasetShapeError(f"{where}: expected an object with a 'messages' list (run `twin-train data` first)")
    messages = record["messages"]
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise DatasetShapeError(f"{where}: messages[{index}] needs a role of system, user or assistant")
        if not isinstance(message.get("content"), str):
            raise DatasetShapeError(f"{where}: messages[{index}].content must be a string")
    turns = [m["role"] for m in messages if m["role"] != "system"]
    if not turns or turns[0] != "user" or turns[-1] != "assistant":
        raise DatasetShapeError(f"{where}: a sample must start with a user turn and end with an assistant turn")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def read_samples(path: Path) -> list[list[dict[str, str]]]:
    if not path.is_file():
        raise DatasetShapeError(f"{path}: no such file (give the folder `twin-train data` wrote)")
    samples = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetShapeError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            samples.append(_check_sample(record, f"{path}:{number}"))
    if not samples:
        raise DatasetShapeError(f"{path}: no samples")
    return samples


def read_report(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "report.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
