"""The one shape every export format is read into, and what parsers tell the pipeline besides messages.

Parsers stay dumb on purpose: they translate a file into `Message`s and label what each one is
(`Kind`), but decide nothing about what to keep. Cleaning, privacy and sessions live in
`wechat_twin.training.dataset`, so every format gets exactly the same rules.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from wechat_twin.errors import TwinError, readable

DEFAULT_TIMEZONE = "Asia/Shanghai"
MALFORMED_EXAMPLES = 5


class Kind(str, enum.Enum):
    """What a message is; every kind but TEXT and QUOTE is dropped, and counted under its value."""

    TEXT = "text"
    QUOTE = "quote"  # a quoted reply: `text` is the reply, or "" where the format does not carry it
    UNATTRIBUTED = "quote_unattributed"  # a reply whose speaker the file does not say (TXT groups)
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    STICKER = "sticker"
    FILE = "file"
    LOCATION = "location"
    LINK = "link_card"
    CONTACT_CARD = "contact_card"
    MINI_PROGRAM = "mini_program"
    FORWARD = "forwarded_chat"
    CALL = "call"
    RED_PACKET = "red_packet"
    TRANSFER = "transfer"
    RECALL = "recall"
    PAT = "pat"
    SYSTEM = "system"
    OTHER = "other_type"


@dataclass(slots=True)
class Message:
    """One chat message. `timestamp` is Unix seconds (zone already applied), so sorting is exact.

    `is_group` is True/False where the format says so and None where only the whole chat can
    tell (the pipeline then counts the distinct speakers on the other side).
    """

    chat_id: str
    chat_name: str
    sender_id: str
    sender_name: str
    is_me: bool
    timestamp: float
    text: str
    kind: Kind = Kind.TEXT
    is_group: bool | None = None


class ExportFormatError(TwinError):
    """A file the pipeline cannot read as a whole; the command prints it and exits non-zero."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass
class Diagnostics:
    """Collects what a parse skipped or doubted, for the report, without stopping the run."""

    malformed_count: int = 0
    malformed_examples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def malformed(self, path: Path | str, line: int | str, reason: str) -> None:
        self.malformed_count += 1
        if len(self.malformed_examples) < MALFORMED_EXAMPLES:
            self.malformed_examples.append(readable(f"{path}:{line}: {reason}"))

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


@dataclass
class ParseOptions:
    """What a parser needs beyond the file: who the owner is and which zone local times are in;
    a source that can choose what to read (a live chatlog) also takes the chats asked for."""

    me: tuple[str, ...] = ()
    chats: tuple[str, ...] = ()  # `--allow`: empty for every chat
    timezone: tzinfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    on_read: Callable[[int], None] | None = None  # bytes consumed, for the progress bar
    progress: bool = False  # a source without a file size shows its own progress bar
