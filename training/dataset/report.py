"""The run's accounting: `report.json` (stable keys, documented in docs/data.md) and its summary.

Every message read ends up either kept (in a written sample) or in exactly one `dropped` reason,
so `messages_read == messages_kept + sum(dropped.values())` holds and a user can see where their
data went. Redactions are counted by kind only; no value is ever stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from wechat_twin.training.dataset.rhythm import summary_line

PERCENTILES = (50, 90, 95, 99)


@dataclass
class Stats:
    messages_read: int = 0
    messages_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    chats: int = 0
    chats_used: int = 0
    group_chats: int = 0
    group_chats_excluded: int = 0
    sessions: int = 0
    sessions_dropped: int = 0
    turns: int = 0
    samples_train: int = 0
    samples_dev: int = 0
    token_lengths: list[int] = field(default_factory=list)

    def drop(self, reason: str, count: int = 1) -> None:
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def merge_drops(self, drops: dict[str, int]) -> None:
        for reason, count in drops.items():
            self.drop(reason, count)


def percentiles(values: list[int]) -> dict[str, int]:
    if not values:
        return {f"p{p}": 0 for p in PERCENTILES} | {"max": 0}
    ordered = sorted(values)
    ranks = {f"p{p}": ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)] for p in PERCENTILES}
    return ranks | {"max": ordered[-1]}


def build_report(
    stats: Stats,
    *,
    inputs: list[dict[str, Any]],
    owner_name: str | None,
    system_prompt: str | None,
    redactions: dict[str, int],
    links_replaced: int,
    token_counter: str,
    malformed_count: int,
    malformed_examples: list[str],
    warnings: list[str],
    settings: dict[str, Any],
) -> dict[str, Any]:
    return {
        "inputs": inputs,
        "owner_name": owner_name,
        "system_prompt": system_prompt,
        "messages_read": stats.messages_read,
        "messages_kept": stats.messages_kept,
        "dropped": dict(sorted(stats.dropped.items(), key=lambda kv: (-kv[1], kv[0]))),
        "redactions": redactions,
        "links_replaced": links_replaced,
        "chats": stats.chats,
        "chats_used": stats.chats_used,
        "group_chats": stats.group_chats,
        "group_chats_excluded": stats.group_chats_excluded,
        "sessions": stats.sessions,
        "sessions_dropped": stats.sessions_dropped,
        "samples_train": stats.samples_train,
        "samples_dev": stats.samples_dev,
        "turns": stats.turns,
        "token_length": {"counter": token_counter, **percentiles(stats.token_lengths)},
        "malformed_rows": {"count": malformed_count, "first": malformed_examples},
        "warnings": warnings,
        "settings": settings,
    }


def summary(report: dict[str, Any]) -> str:
    """A few lines for the terminal: the numbers a user checks before training."""
    dropped = report["dropped"]
    tokens = report["token_length"]
    lines = [
        f"read {report['messages_read']:,} messages from {len(report['inputs'])} file(s); "
        f"kept {report['messages_kept']:,}, dropped {sum(dropped.values()):,}",
        f"chats {report['chats']:,} (used {report['chats_used']:,}, groups excluded "
        f"{report['group_chats_excluded']:,}); sessions {report['sessions']:,}; turns {report['turns']:,}; "
        f"samples train {report['samples_train']:,} / dev {report['samples_dev']:,}",
    ]
    if dropped:
        lines.append("dropped: " + ", ".join(f"{reason} {count:,}" for reason, count in dropped.items()))
    redacted = {kind: n for kind, n in report["redactions"].items() if n}
    lines.append(
        "redacted: "
        + (", ".join(f"{kind} {n:,}" for kind, n in redacted.items()) if redacted else "nothing")
        + f"; links replaced {report['links_replaced']:,}"
    )
    lines.append(
        f"tokens per sample ({tokens['counter']}): "
        + " ".join(f"{key} {value:,}" for key, value in tokens.items() if key != "counter")
    )
    lines.append(summary_line(report.get("rhythm")))
    malformed = report["malformed_rows"]
    if malformed["count"]:
        lines.append(f"malformed rows skipped: {malformed['count']:,}")
        lines.extend(f"  {example}" for example in malformed["first"])
    lines.extend(f"warning: {warning}" for warning in report["warnings"])
    return "\n".join(lines)
