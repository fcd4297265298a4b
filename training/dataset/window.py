"""What a dataset records so that it can be extended later (`twin-train update`): the options it was made
with, and its window, the sessions it trained on.

An adapter keeps its window in its own file, `window.json` beside `twin.json`: it grows with the export
(an entry per session trained on, thousands for a long history) and only `twin-train update` reads it,
while the server parses `twin.json` at every adapter scan.

A session's identity is its contact key and start (the memory file's `session`); its digest hashes its
samples' texts too, so a session that grew after the old export was made (the owner kept talking within the
gap) is told apart from one read again unchanged. The texts are the turns as cut, after cleaning and before
redaction: the same options cut them the same again, and a digest carries no text.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wechat_twin.memory.store import session_key
from wechat_twin.private_files import write_private

DIGEST_CHARS = 16
WINDOW_FILE = "window.json"
# The options `twin-train data` records: every field a run is made with, but where it writes and how it shows.
_NOT_RECORDED = {"out", "progress", "known_sessions", "known_last"}


def session_digest(identity: str, texts: Iterable[str]) -> str:
    digest = hashlib.sha256(identity.encode())
    for text in texts:
        digest.update(b"\x00" + text.encode())
    return digest.hexdigest()[:DIGEST_CHARS]


def identity_of(chat: str, start_iso: str) -> str:
    return session_key(chat, start_iso)


@dataclass
class Sorting:
    """New sessions against the ones an adapter trained on: `new` keeps going, the others are counted."""

    known: dict[str, str]  # identity -> digest
    new: int = 0
    already_known: int = 0
    dropped: int = 0  # known sessions whose text changed: part was trained on, and training it again repeats it
    newer: int = 0  # of the new ones, those after the old window's last message
    last: str | None = None  # the old window's last message time (ISO)
    kept: set[str] = field(default_factory=set)

    def keep(self, identity: str, digest: str, start_iso: str) -> bool:
        seen = self.known.get(identity)
        if seen is None:
            self.new += 1
            self.newer += self.last is None or start_iso > self.last
            self.kept.add(identity)
            return True
        if seen == digest:
            self.already_known += 1
        else:
            self.dropped += 1
        return False

    def report(self) -> dict[str, int]:
        return {"new": self.new, "newer": self.newer, "already_known": self.already_known, "dropped": self.dropped}


def window(first: str | None, last: str | None, sessions: dict[str, str]) -> dict[str, Any]:
    """`first`/`last`: the earliest and latest message times (ISO) of the sessions trained on."""
    return {"first": first, "last": last, "sessions": sessions}


def merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The window an updated adapter covers: both windows' sessions, from the earlier first to the later last."""
    firsts = [t for t in (old.get("first"), new.get("first")) if t]
    lasts = [t for t in (old.get("last"), new.get("last")) if t]
    return window(min(firsts, default=None), max(lasts, default=None), {**old["sessions"], **new["sessions"]})


def write_window(adapter_dir: Path, window: dict[str, Any]) -> Path:
    """The adapter's `window.json`, owner-only: its session identities name contacts and times."""
    return write_private(Path(adapter_dir) / WINDOW_FILE, json.dumps(window, ensure_ascii=False, indent=1) + "\n")


def read_window(adapter_dir: Path) -> dict[str, Any] | None:
    """The adapter's `window.json`, or None when it has none."""
    path = Path(adapter_dir) / WINDOW_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def recorded_options(options: Any) -> dict[str, Any]:
    """A `PipelineOptions` as JSON: paths as strings, choices as their values, tuples as lists."""
    record = {}
    for item in dataclasses.fields(options):
        if item.name in _NOT_RECORDED:
            continue
        value = getattr(options, item.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        record[item.name] = value
    return record
