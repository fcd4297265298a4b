"""`twin-bridge export-feedback`: TRL's preference and unpaired JSONL, written owner-only."""

from __future__ import annotations

import json
from pathlib import Path

from wechat_twin.feedback import FeedbackLocation
from wechat_twin.feedback.store import FeedbackStore
from wechat_twin.private_files import open_private, private_dir

PREFERENCE_FILE = "preference.jsonl"
UNPAIRED_FILE = "unpaired.jsonl"


def _write_private(path: Path, records: list[dict]) -> None:
    with open_private(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def export_feedback(database: FeedbackLocation, out: Path) -> tuple[int, int]:
    store = FeedbackStore(database)
    try:
        pairs, labels = store.preference_pairs(), store.unpaired_labels()
    finally:
        store.close()
    private_dir(out)
    _write_private(out / PREFERENCE_FILE, pairs)
    _write_private(out / UNPAIRED_FILE, labels)
    return len(pairs), len(labels)
