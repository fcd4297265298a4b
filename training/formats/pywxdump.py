"""PyWxDump CSV, the format WeClone reads (docs/formats.md §3).

Pages of up to 5000 rows per chat (`<wxid>_<start>_<end>.csv`); `room_name` is the chat (a
friend's wxid, or `…@chatroom` for groups), `talker` the speaker's wxid, `is_sender` marks the
owner. Types are Chinese names; a quoted reply keeps its reply text before `\\n\\n[引用]`.
Times are local strings, sometimes re-saved by Excel as `2024/10/4 11:42`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from wechat_twin.training.formats.support.csvfile import header_match, named_rows
from wechat_twin.training.formats.support.message import Kind, Message, ParseOptions
from wechat_twin.training.formats.support.notices import notice_kind
from wechat_twin.training.formats.support.times import parse_time

NAME = "pywxdump"
DESCRIPTION = "PyWxDump CSV (id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime)"

COLUMNS = ("id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src", "CreateTime")
REQUIRED = ("type_name", "is_sender", "talker", "room_name", "msg", "CreateTime")
QUOTE_MARK = "\n\n[引用]"

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


def detect(path: Path) -> float:
    return header_match(path, COLUMNS, damaged_at=5)


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
    for line, row in named_rows(path, options, REQUIRED, "PyWxDump CSV"):
        try:
            timestamp = parse_time(row["CreateTime"], options.timezone)
        except ValueError as error:
            options.diagnostics.malformed(path, line, str(error))
            continue
        msg = row["msg"]
        kind = _kind(row["type_name"], msg)
        text = msg.split(QUOTE_MARK, 1)[0] if kind is Kind.QUOTE else msg if kind is Kind.TEXT else ""
        chat, talker = row["room_name"], row["talker"]
        is_me = row["is_sender"] == "1"
        yield Message(chat, chat, talker, talker, is_me, timestamp, text, kind, chat.endswith("@chatroom"))
