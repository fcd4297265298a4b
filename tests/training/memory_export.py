"""An export whose every text names its chat and session, so a test can tell where retrieved text came from."""

from __future__ import annotations

import re

from tests.training.formats.export_files import T0, shape_e

DAY = 86400
FRIENDS = {"7": "小王", "8": "Tom"}
SESSIONS = 6
TAG = re.compile(r"\b(c\d) (s\d)\b")


def tagged_export(path):
    """Two friends, six daily sessions each, every text tagged with its chat and session, all about hotpot."""
    rows = []
    for s in range(SESSIONS):
        for talker, name in FRIENDS.items():
            at = T0 + s * DAY + int(talker) * 600
            rows += [
                (talker, False, at, f"c{talker} s{s} hotpot tonight?", "", name, name),
                (talker, True, at + 60, f"c{talker} s{s} hotpot ok~ [旺柴]", "", name, name),
            ]
    return shape_e(path, sorted(rows, key=lambda r: r[2]))
