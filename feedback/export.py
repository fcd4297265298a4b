"""`twin-bridge export-feedback`: TRL's preference and unpaired JSONL, written owner-only."""

from __future__ import annotations

import json
import os
from pathlib import Path

from wechat_twin.feedback.store import FeedbackStore

PREFERENCE_FILE = "preference.jsonl"
UNPAIRED_FILE = "unpaired.jsonl"


def _write_private(path: Path, records: list[dict]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    partial.replace(path)


def export_feedback(database: Path, out: Path) -> tuple[int, int]:
    store = FeedbackStore(database)
    try:
        pairs, labels = store.preference_pairs(), store.unpaired_labels()
    finally:
        store.close()
    out.mkdir(parents=True, exist_ok=True)
    _write_private(out / PREFERENCE_FILE, pairs)
    _write_private(out / UNPAIRED_FILE, labels)
    return len(pairs), len(labels)
