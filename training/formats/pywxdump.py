"""PyWxDump CSV, the format WeClone reads (FORMATS.md §3).

Pages of up to 5000 rows per chat (`<wxid>_<start>_<end>.csv`); `room_name` is the chat (a
friend's wxid, or `…@chatroom` for groups), `talker` the speaker's wxid, `is_sender` marks the
owner. Types are Chinese names; a quoted reply keeps its reply text before `\\n\\n[引用]`.
Times are local strings, sometimes re-saved by Excel as `2024/10/4 11:42`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from training.formats.message import ExportFormatError, Kind, Message, ParseOptions
from training.formats.notices import notice_kind
from training.formats.textio import decode_error, first_line, open_text
from training.formats.times import parse_time

NAME = "pywxdump"
DESCRIPTION = "PyWxDump CSV (id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime)"

COLUMNS = ("id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src", "CreateTime")
REQUIRED = ("type_name", "is_sender", "talker", "room_name", "msg", "CreateTime")
QUOTE_MARK = "\n\n[引用]"
FIELD_LIMIT = 1 << 24

_KINDS = {
    "文本": Kind.TEXT,
    "引用回复": Kind.QUOTE,
    "图片": Kind.IMAGE,
    "语音": Kind.VOICE,
    "视频": Kind.VIDEO,
    "动画表情": Kind.STICKER,
    "用户上传的GIF表情": Kind.STICKER,
    "位置": Kind.LOCATION,
    "位置共享": Kind.LOCATION,
    "文件": Kind.FILE,
    "添加好友": Kind.SYSTEM,
    "推荐公众号": Kind.CONTACT_CARD,
    "卡片式链接": Kind.LINK,
    "合并转发的聊天记录": Kind.FORWARD,
    "语音通话": Kind.CALL,
    "转账": Kind.TRANSFER,
    "赠送红包封面": Kind.RED_PACKET,
    "拍一拍": Kind.PAT,
    "邀请加群": Kind.SYSTEM,
    "群公告": Kind.SYSTEM,
}


def _header(path: Path) -> list[str]:
    line = first_line(path)
    return next(csv.reader([line]), []) if line else []


def detect(path: Path) -> float:
    header = _header(path)
    if tuple(header[: len(COLUMNS)]) == COLUMNS:
        return 1.0
    return 0.5 if len(set(header) & set(COLUMNS)) >= 5 else 0.0


def _kind(type_name: str, msg: str) -> Kind:
    kind = _KINDS.get(type_name)
    if kind is not None:
        return kind
    if type_name == "系统通知":
        return notice_kind(msg)
    if type_name.startswith("消息撤回"):
        return Kind.RECALL
    if type_name.startswith("(分享)"):
        return Kind.MINI_PROGRAM if "小程序" in type_name else Kind.LINK
    return Kind.OTHER


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    malformed = options.diagnostics.malformed
    try:
        with open_text(path, options) as f:
            reader = csv.reader(f)
            header = next(reader, None) or []
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise ExportFormatError(path, f"PyWxDump CSV is missing required columns: {', '.join(missing)}")
            at = {name: header.index(name) for name in REQUIRED}
            width = max(at.values()) + 1
            start = reader.line_num + 1
            for row in reader:
                line, start = start, reader.line_num + 1
                if len(row) < width:
                    if row:
                        malformed(path, line, f"{len(row)} fields, expected {len(header)}")
                    continue
                try:
                    timestamp = parse_time(row[at["CreateTime"]], options.timezone)
                except ValueError as error:
                    malformed(path, line, str(error))
                    continue
                msg = row[at["msg"]]
                kind = _kind(row[at["type_name"]], msg)
                text = msg.split(QUOTE_MARK, 1)[0] if kind is Kind.QUOTE else msg if kind is Kind.TEXT else ""
                chat, talker = row[at["room_name"]], row[at["talker"]]
                yield Message(
                    chat,
                    chat,
                    talker,
                    talker,
                    row[at["is_sender"]] == "1",
                    timestamp,
                    text,
                    kind,
                    chat.endswith("@chatroom"),
                )
    except UnicodeDecodeError as error:
        raise decode_error(path, error) from error
