"""A clone's versions in the adapters folder, and which one `model: NAME` answers with.

Versions are sibling folders `me@1`, `me@2`, ... (docs/adapters.md). `me` answers with the promoted version,
recorded in `me.promoted.json` beside them, or with the highest version while none was promoted. The record
is the only state: it is written owner-only beside its final name and renamed into place (`write_private`),
so a server restarted, or a second replica on the same folder, reads the switch whole or not at all. It keeps
the versions promoted before, so a rollback returns to the one that served before, not merely the one below.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from wechat_twin.names import is_adapter_name, split_version, versioned
from wechat_twin.private_files import write_private

PROMOTION_SUFFIX = ".promoted.json"


@dataclass(frozen=True)
class Promotion:
    """The promoted version of one clone, and those promoted before it, oldest first."""

    version: int
    history: tuple[int, ...] = field(default_factory=tuple)


def record_path(adapters_dir: Path, clone: str) -> Path:
    return adapters_dir / f"{clone}{PROMOTION_SUFFIX}"


def versions_of(adapters_dir: Path, clone: str) -> list[int]:
    """The version numbers with a folder `clone@N`, lowest first."""
    found = []
    for entry in os.scandir(adapters_dir):
        name, version = split_version(entry.name)
        if version is not None and name == clone and entry.is_dir() and is_adapter_name(entry.name):
            found.append(version)
    return sorted(found)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_mtime_ns, info.st_ino, info.st_size


def read_promotion(path: Path) -> Promotion | None:
    """The record, or None when there is none. ValueError for one that cannot be read: never guessed at."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = int(data["promoted"])
        history = tuple(int(v) for v in data.get("history", []))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path.name}: not a promotion record ({exc})") from exc
    if version < 1 or any(v < 1 for v in history):
        raise ValueError(f"{path.name}: versions are numbered from 1")
    return Promotion(version, history)


def write_promotion(path: Path, clone: str, promotion: Promotion) -> None:
    """Whole or not at all: written beside its final name, then renamed over it."""
    body = {
        "promoted": promotion.version,
        "history": list(promotion.history),
        "served_as": versioned(clone, promotion.version),
    }
    write_private(path, json.dumps(body, indent=2) + "\n")


class PromotionRecords:
    """Each clone's record, read again only when its file changed (a stat per resolution of a bare name)."""

    def __init__(self, adapters_dir: Path) -> None:
        self.adapters_dir = adapters_dir
        self._read: dict[str, tuple[tuple[int, int, int] | None, Promotion | None]] = {}

    def get(self, clone: str) -> Promotion | None:
        path = record_path(self.adapters_dir, clone)
        stamp = _stamp(path)
        cached = self._read.get(clone)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        promotion = read_promotion(path) if stamp is not None else None
        self._read[clone] = (stamp, promotion)
        return promotion

    def set(self, clone: str, promotion: Promotion) -> None:
        """OSError when the record cannot be written (a read-only adapters volume): then nothing switched."""
        path = record_path(self.adapters_dir, clone)
        write_promotion(path, clone, promotion)
        self._read[clone] = (_stamp(path), promotion)


def promoted(current: Promotion | None, version: int, serving: int | None) -> Promotion:
    """The record after promoting `version`: the one serving before (promoted, or the highest while none was)
    goes on the history, so a rollback returns to it."""
    history = current.history if current else ()
    if serving is None or serving == version:
        return Promotion(version, history)
    return Promotion(version, (*history, serving))


def rolled_back(current: Promotion | None, serving: int, versions: list[int]) -> Promotion | None:
    """The record after a rollback from `serving`: the version promoted before it whose folder is still
    there, else the highest version below it; None when there is none to go back to."""
    history = list(current.history) if current else []
    while history:
        previous = history.pop()
        if previous in versions and previous != serving:
            return Promotion(previous, tuple(history))
    below = [v for v in versions if v < serving]
    return Promotion(below[-1]) if below else None
