"""`twin-bridge log`: every message the bridge sent in the owner's name, and who wrote it.

Read from the `sent` table of the bridge's database. A written copy (`--out`) holds friends' names and
what was said to them, so it is owner-only like the database itself.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from wechat_twin.bridge.store import BridgeStore
from wechat_twin.bridge.texts import Texts
from wechat_twin.errors import UsageError
from wechat_twin.feedback.store import FeedbackStore
from wechat_twin.private_files import write_private

AUTHORS = ("clone", "approved", "owner")  # the clone's reply, a draft the owner let out, the owner's own words


def parse_since(value: str | None) -> float | None:
    """`2026-12-06` or `2026-12-06T18:30` (local time) → a timestamp; None → from the start."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise UsageError(f"--since {value!r}: not a date (YYYY-MM-DD, or YYYY-MM-DDTHH:MM)") from None


def sent_lines(database: Path, contact: str | None, since: str | None, texts: Texts) -> list[str]:
    """One line per sent message: time, contact, who wrote it, text (line breaks shown as ⏎)."""
    if not database.is_file():
        raise UsageError(f"{database}: no bridge database there")
    feedback = FeedbackStore(database)
    try:
        rows = BridgeStore(feedback).sent_messages(contact, parse_since(since))
    finally:
        feedback.close()
    return [
        f"{datetime.fromtimestamp(r['at']):%Y-%m-%d %H:%M:%S}\t{r['chat_name']}\t"
        f"{texts('log_' + r['author'])}\t{r['text'].replace(chr(10), ' ⏎ ')}"
        for r in rows
    ]


def write_log(path: Path, lines: list[str]) -> None:
    write_private(path, "".join(f"{line}\n" for line in lines))
