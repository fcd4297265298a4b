"""The detailed JSON of WeFlow, echotrace and miyu (one file per chat): `session` + `messages` (docs/formats.md §6.2).

echotrace wrote it first; WeFlow and miyu kept its fields and added a `weflow` header and quote
fields. Each message has `createTime` (Unix seconds: the local `formattedTime` beside it is
ignored), `isSend` (1 = the owner), `localType` (WeChat 4.x's 64-bit type), `content` (rendered
text), `senderUsername` (wxid) and `senderDisplayName`. The chat is `session.wxid`, a group when
`session.type` is 群聊 or the id ends in `@chatroom`. WeFlow's compact `arkme-json` is refused by
name: it keeps senders in a separate table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wechat_twin.training.formats.support import jsonfile, wechat_types
from wechat_twin.training.formats.support.message import ExportFormatError, Kind, Message, ParseOptions
from wechat_twin.training.formats.support.textio import head
from wechat_twin.training.formats.support.weflow_text import reply_text

NAME = "weflow-json"
DESCRIPTION = "WeFlow / echotrace / miyu detailed JSON (session + messages with isSend, localType)"

GROUP_TYPE = "群聊"
_MESSAGE_KEYS = re.compile(r'"(?:isSend|localType)"\s*:')


def detect(path: Path) -> float:
    text = head(path).lstrip()
    if not text.startswith("{") or '"session"' not in text or '"messages"' not in text:
        return 0.0
    return 1.0 if _MESSAGE_KEYS.search(text) else 0.5


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    data = jsonfile.load(path, options)
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ExportFormatError(path, "not a WeFlow/echotrace JSON export: no 'messages' list at the top level")
    if (data.get("weflow") or {}).get("format") == "arkme-json":
        raise ExportFormatError(path, "WeFlow's arkme-json is not read: export the chat as JSON (detailed) instead")
    session = data.get("session") if isinstance(data.get("session"), dict) else {}
    chat_id = str(session.get("wxid") or path.stem)
    chat_name = str(session.get("displayName") or session.get("remark") or session.get("nickname") or chat_id)
    is_group = session.get("type") == GROUP_TYPE or chat_id.endswith("@chatroom")
    for index, record in enumerate(data["messages"]):
        try:
            yield _message(record, chat_id, chat_name, is_group)
        except (TypeError, ValueError) as error:
            options.diagnostics.malformed(path, f"messages[{index}]", str(error))


def _message(record: Any, chat_id: str, chat_name: str, is_group: bool) -> Message:
    if not isinstance(record, dict):
        raise TypeError("not a JSON object")
    timestamp = jsonfile.number(record, "createTime")
    type_, subtype = wechat_types.split_local_type(int(jsonfile.number(record, "localType")))
    is_me = jsonfile.number(record, "isSend") == 1
    content = str(record.get("content") or "")
    sender_id = str(record.get("senderUsername") or "")
    if is_group and sender_id and content.startswith(f"{sender_id}:\n"):  # WeChat's own `wxid:\n` prefix, if kept
        content = content[len(sender_id) + 2 :]
    kind = wechat_types.kind_of(type_, subtype, content)
    text = content if kind is Kind.TEXT else reply_text(content) if kind is Kind.QUOTE else ""
    sender_name = str(record.get("senderDisplayName") or "")
    return Message(chat_id, chat_name, sender_id, sender_name, is_me, float(timestamp), text, kind, is_group)
