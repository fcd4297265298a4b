"""Read the bridge's feedback: exported JSONL files, an export folder, or the SQLite database itself.

The bridge records a choice between two candidates as a preference pair and a thumbs
up/down on one reply as a label (`feedback/store.py`). Both arrive here as
records of one shape whatever the source, each remembering where it came from, so that
a bad record is reported by file, line and field instead of failing deep inside TRL.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wechat_twin.errors import TwinError
from wechat_twin.server.prompting import ChatMessage

PREFERENCE_FILE = "preference.jsonl"
UNPAIRED_FILE = "unpaired.jsonl"
SQLITE_MAGIC = b"SQLite format 3\x00"
CHAT_ROLES = ("system", "user", "assistant")


class FeedbackError(TwinError):
    """The message names the file (and line and field) that is wrong."""


@dataclass(frozen=True)
class PreferencePair:
    prompt: list[ChatMessage]
    chosen: str
    rejected: str
    adapter: str | None
    origin: str


@dataclass(frozen=True)
class LabeledReply:
    prompt: list[ChatMessage]
    completion: str
    label: bool
    adapter: str | None
    origin: str


@dataclass
class Feedback:
    pairs: list[PreferencePair] = field(default_factory=list)
    labels: list[LabeledReply] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def extend(self, other: Feedback) -> None:
        self.pairs.extend(other.pairs)
        self.labels.extend(other.labels)
        self.sources.extend(other.sources)
        self.skipped.update(other.skipped)

    def for_adapters(self, adapters: set[str]) -> Feedback:
        """Only feedback given while these adapters were served: another persona's choices teach the wrong voice.

        Records without an adapter (written by hand, not by the bridge) are kept: whoever wrote them chose them.
        """
        return Feedback(
            pairs=[p for p in self.pairs if p.adapter is None or p.adapter in adapters],
            labels=[r for r in self.labels if r.adapter is None or r.adapter in adapters],
            sources=list(self.sources),
            skipped=Counter(self.skipped),
        )

    def adapter_counts(self) -> dict[str, int]:
        counts = Counter(str(item.adapter) for item in [*self.pairs, *self.labels])
        return dict(counts.most_common())


def _prompt(value: Any, origin: str) -> list[ChatMessage]:
    if not isinstance(value, list) or not value:
        raise FeedbackError(f"{origin}: field 'prompt' must be a non-empty list of chat messages")
    messages: list[ChatMessage] = []
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            raise FeedbackError(f"{origin}: prompt[{index}] must be an object with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in CHAT_ROLES:
            raise FeedbackError(f"{origin}: prompt[{index}].role is {role!r}, expected one of {', '.join(CHAT_ROLES)}")
        if not isinstance(content, str):
            raise FeedbackError(f"{origin}: prompt[{index}].content must be a string")
        messages.append({"role": role, "content": content})
    if not any(m["role"] == "user" for m in messages):
        raise FeedbackError(f"{origin}: field 'prompt' has no user message")
    return messages


def _text(record: dict[str, Any], key: str, origin: str) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise FeedbackError(f"{origin}: field '{key}' must be a string, got {type(value).__name__}")
    return value


def _adapter(record: dict[str, Any], origin: str) -> str | None:
    value = record.get("adapter")
    if value is not None and not isinstance(value, str):
        raise FeedbackError(f"{origin}: field 'adapter' must be a string or null")
    return value


def parse_record(record: Any, origin: str, feedback: Feedback) -> None:
    """Add one exported record to `feedback`; empty or identical replies teach nothing and are counted as skipped."""
    if not isinstance(record, dict):
        raise FeedbackError(f"{origin}: expected a JSON object, got {type(record).__name__}")
    if "chosen" in record or "rejected" in record:
        prompt = _prompt(record.get("prompt"), origin)
        chosen, rejected = _text(record, "chosen", origin), _text(record, "rejected", origin)
        if not chosen.strip() or not rejected.strip():
            feedback.skipped["pair with an empty reply"] += 1
        elif chosen.strip() == rejected.strip():
            feedback.skipped["pair with identical replies"] += 1
        else:
            feedback.pairs.append(PreferencePair(prompt, chosen, rejected, _adapter(record, origin), origin))
    elif "label" in record:
        prompt = _prompt(record.get("prompt"), origin)
        completion = _text(record, "completion", origin)
        label = record["label"]
        if not isinstance(label, bool):
            raise FeedbackError(f"{origin}: field 'label' must be true or false, got {label!r}")
        if not completion.strip():
            feedback.skipped["label on an empty reply"] += 1
        else:
            feedback.labels.append(LabeledReply(prompt, completion, label, _adapter(record, origin), origin))
    else:
        raise FeedbackError(
            f"{origin}: neither a preference record (prompt, chosen, rejected) "
            "nor a label record (prompt, completion, label)"
        )


def read_jsonl(path: Path) -> Feedback:
    feedback = Feedback(sources=[str(path)])
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            origin = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FeedbackError(f"{origin}: not valid JSON ({exc.msg})") from exc
            parse_record(record, origin, feedback)
    return feedback


def read_database(path: Path) -> Feedback:
    """Read the bridge's SQLite file through its own store, so the export rules live in one place."""
    from wechat_twin.feedback.store import FeedbackStore

    feedback = Feedback(sources=[str(path)])
    store = FeedbackStore(path)
    try:
        for index, record in enumerate(store.preference_pairs()):
            parse_record(record, f"{path} (preference pair {index})", feedback)
        for index, record in enumerate(store.unpaired_labels()):
            parse_record(record, f"{path} (label {index})", feedback)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    return feedback


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def load_feedback(sources: list[Path]) -> Feedback:
    """Each source: a `.jsonl` export, a folder holding `preference.jsonl`/`unpaired.jsonl`, or `feedback.db`."""
    feedback = Feedback()
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            files = [path / name for name in (PREFERENCE_FILE, UNPAIRED_FILE) if (path / name).is_file()]
            if not files:
                raise FeedbackError(
                    f"{path}: the folder has neither {PREFERENCE_FILE} nor {UNPAIRED_FILE} "
                    "(write them with `twin-bridge export-feedback`)"
                )
            for file in files:
                feedback.extend(read_jsonl(file))
        elif not path.is_file():
            raise FeedbackError(f"{path}: no such file or folder")
        elif _is_sqlite(path):
            feedback.extend(read_database(path))
        else:
            feedback.extend(read_jsonl(path))
    return feedback
