"""sjzar/chatlog's JSON (`/api/v1/chatlog?format=json` saved to a file): a bare array (docs/formats.md §6.4).

Each record has `time` (RFC 3339 with the local offset), `talker` (the chat: a wxid or a
`…@chatroom`), `talkerName` (groups only), `isChatRoom`, `sender`, `senderName`, `isSelf`,
`type` and `subType` (WeChat's type split in two) and `content` (the text; a quote's reply text).
One file may hold several chats. The live pull (`wechat_twin.training.formats.chatlog_api`) reads the same
records over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wechat_twin.training.formats.support import jsonfile, wechat_types
from wechat_twin.training.formats.support.message import ExportFormatError, Kind, Message, ParseOptions
from wechat_twin.training.formats.support.textio import head
from wechat_twin.training.formats.support.times import parse_time

NAME = "chatlog-json"
DESCRIPTION = "chatlog JSON (a saved /api/v1/chatlog?format=json response)"

_FIRST_RECORD = re.compile(r'^\[\s*\{\s*"seq"\s*:')


def detect(path: Path) -> float:
    text = head(path).lstrip()
    if not text.startswith("["):
        return 0.0
    if _FIRST_RECORD.match(text) and '"isSelf"' in text and '"talker"' in text:
        return 1.0
    return 0.5 if path.stem.startswith("chatlog") and '"isSelf"' in text else 0.0


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    data = jsonfile.load(path, options)
    if not isinstance(data, list):
        raise ExportFormatError(path, "not a chatlog JSON export: the top level is not an array")
    for index, record in enumerate(data):
        try:
            yield message_of(record, options)
        except (KeyError, TypeError, ValueError) as error:
            options.diagnostics.malformed(path, f"record {index + 1}", _reason(error))


def message_of(record: Any, options: ParseOptions, chat_name: str = "") -> Message:
    """One chatlog record as a `Message`; `chat_name` where the caller knows it (the session list)."""
    if not isinstance(record, dict):
        raise TypeError("not a JSON object")
    timestamp = parse_time(str(record["time"]), options.timezone)
    type_, subtype = int(jsonfile.number(record, "type")), int(record.get("subType") or 0)
    content = str(record.get("content") or "")
    kind = wechat_types.kind_of(type_, subtype, content)
    text = content if kind in (Kind.TEXT, Kind.QUOTE) else ""
    talker = str(record["talker"])
    is_group = bool(record.get("isChatRoom")) or talker.endswith("@chatroom")
    is_me = record.get("isSelf") is True
    sender_name = str(record.get("senderName") or "")
    if not chat_name:  # a one-to-one chat is named by the partner's messages
        chat_name = str(record.get("talkerName") or "") or ("" if is_group or is_me else sender_name)
    return Message(
        talker, chat_name, str(record.get("sender") or ""), sender_name, is_me, timestamp, text, kind, is_group
    )


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing key {error.args[0]!r}"
    return str(error)
