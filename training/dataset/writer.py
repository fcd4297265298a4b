"""Write the dataset files: owner-only, all or nothing, and optionally in LLaMA-Factory's layout.

Chat history is the most private thing a user has, so every file is created 0600 (folders 0700).
Files are written into a staging folder next to their destination and renamed into place only
when all of them are complete: a crash or a bad input never leaves a half-written dataset, and a
re-run replaces the previous files instead of mixing with them. JSONL is encoded by msgspec: the
same bytes as `json.dumps(ensure_ascii=False, separators=(",", ":"))`, in a fraction of the time.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from wechat_twin.private_files import DIR_MODE, make_dirs, open_private, private_path

LLAMAFACTORY_DIR = "llamafactory"
SHAREGPT_ROLES = {"user": "human", "assistant": "gpt"}

Writer = Callable[[BinaryIO], None]


@dataclass(frozen=True)
class BuiltAt:
    """A file a library writes by its name (SQLite's memory file): `build` gets the partial file's path."""

    build: Callable[[Path], None]


FLUSH_BYTES = 1 << 22


def jsonl(records: Iterable[dict[str, Any]]) -> Writer:
    def write(f: BinaryIO) -> None:
        encode_into = msgspec.json.Encoder().encode_into
        buffer = bytearray()
        for record in records:
            encode_into(record, buffer, -1)
            buffer += b"\n"
            if len(buffer) >= FLUSH_BYTES:
                f.write(buffer)
                buffer.clear()
        f.write(buffer)

    return write


def json_document(document: Any) -> Writer:
    def write(f: BinaryIO) -> None:
        f.write(json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n")

    return write


def sharegpt(record: dict[str, Any]) -> dict[str, Any]:
    """One OpenAI-style record as LLaMA-Factory's sharegpt: `conversations` + a `system` column."""
    messages = record["messages"]
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    turns = [{"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in messages if m["role"] != "system"]
    return {"conversations": turns, "system": system}


def llamafactory_info(splits: Iterable[str]) -> dict[str, Any]:
    return {
        f"wechat_twin_{split}": {
            "file_name": f"{split}.jsonl",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
        }
        for split in splits
    }


def write_files(out_dir: Path, files: dict[str, Writer | BuiltAt]) -> list[Path]:
    """Write `files` (relative path -> writer) under `out_dir` atomically; returns the final paths."""
    fresh = not out_dir.exists()
    parent = out_dir.parent if fresh else out_dir
    make_dirs(parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
    try:
        for relative, write in files.items():
            _write_private(staging / relative, write)
        if fresh:
            os.chmod(staging, DIR_MODE)
            os.replace(staging, out_dir)
        else:
            for relative in files:
                destination = out_dir / relative
                make_dirs(destination.parent)
                os.replace(staging / relative, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out_dir / relative for relative in files]


def _write_private(path: Path, write: Writer | BuiltAt) -> None:
    if isinstance(write, BuiltAt):
        with private_path(path) as partial:
            write.build(partial)
        return
    with open_private(path, "wb") as f:
        write(f)
