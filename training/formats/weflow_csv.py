"""WeFlow's "weclone" CSV, the export WeFlow offers for WeClone (one file per chat) (docs/formats.md §6.1).

The header is `id,MsgSvrID,type_name,is_sender,talker,msg,src,CreateTime`: PyWxDump's without
`room_name`, so the chat is known only from the file name (`私聊_<name>.csv`, `群聊_<name>.csv`,
`公众号_<name>.csv`), and a group only from its `群聊_` prefix. `talker` is the speaker's display
name (`我` for the owner in one-to-one chats), `is_sender` marks the owner, `CreateTime` is ISO
8601 in UTC. Every kind but media and files is typed `text`; links, notices, transfers, red
packets, recalls and quoted replies are told apart by WeFlow's markers
(`wechat_twin.training.formats.support.weflow_text`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from wechat_twin.training.formats.support.csvfile import header_match, named_rows
from wechat_twin.training.formats.support.message import Kind, Message, ParseOptions
from wechat_twin.training.formats.support.times import parse_time
from wechat_twin.training.formats.support.weflow_text import kind_and_text

NAME = "weflow-csv"
DESCRIPTION = 'WeFlow "weclone" CSV (id,MsgSvrID,type_name,is_sender,talker,msg,src,CreateTime)'

COLUMNS = ("id", "MsgSvrID", "type_name", "is_sender", "talker", "msg", "src", "CreateTime")
REQUIRED = ("type_name", "is_sender", "talker", "msg", "CreateTime")
CHAT_PREFIXES = {"私聊_": False, "群聊_": True, "公众号_": False}

_KINDS = {
    "image": Kind.IMAGE,
    "sticker": Kind.STICKER,
    "video": Kind.VIDEO,
    "voice": Kind.VOICE,
    "location": Kind.LOCATION,
    "file": Kind.FILE,
}


def detect(path: Path) -> float:
    return header_match(path, COLUMNS, damaged_at=6)


def chat_of(path: Path) -> tuple[str, bool | None]:
    """The chat's name and whether it is a group, from WeFlow's file-name prefix (None: no prefix)."""
    for prefix, is_group in CHAT_PREFIXES.items():
        if path.stem.startswith(prefix) and len(path.stem) > len(prefix):
            return path.stem[len(prefix) :], is_group
    return path.stem, None


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    chat_name, is_group = chat_of(path)
    for line, row in named_rows(path, options, REQUIRED, "WeFlow weclone CSV"):
        try:
            timestamp = parse_time(row["CreateTime"], options.timezone)
        except ValueError as error:
            options.diagnostics.malformed(path, line, str(error))
            continue
        type_name, msg = row["type_name"], row["msg"]
        kind, text = kind_and_text(msg) if type_name == "text" else (_KINDS.get(type_name, Kind.OTHER), "")
        talker = row["talker"]
        yield Message(path.stem, chat_name, talker, talker, row["is_sender"] == "1", timestamp, text, kind, is_group)
