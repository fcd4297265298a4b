"""chatlog's CSV (`GET /api/v1/chatlog?format=csv`, saved as `<talker>_<start>_<end>.csv`) (docs/formats.md §6.4).

Header `Time,SenderName,Sender,TalkerName,Talker,Content`. There is no is-self column: the owner
is `--me` (their wxid or name), or, without it, the one sender whose name chatlog leaves empty in
one-to-one chats (it does so for the owner only), and the report says so. `Time` is the local time
of the machine chatlog ran on, without a zone: `--timezone`. `Content` is rendered text, so kinds
are read back from chatlog's renderings (`![图片](…)`, `[链接|…](…)`, quotes as `> ` lines
followed by the reply); `Sender` is `系统消息` for notices.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from wechat_twin.training.formats.support.csvfile import header_match, named_rows
from wechat_twin.training.formats.support.message import Diagnostics, ExportFormatError, Kind, Message, ParseOptions
from wechat_twin.training.formats.support.notices import is_notice_line, notice_kind
from wechat_twin.training.formats.support.times import parse_time

NAME = "chatlog-csv"
DESCRIPTION = "chatlog CSV (Time,SenderName,Sender,TalkerName,Talker,Content); needs --me and --timezone"

COLUMNS = ("Time", "SenderName", "Sender", "TalkerName", "Talker", "Content")
SYSTEM_SENDER = "系统消息"

_PREFIXES = (
    ("![图片](", Kind.IMAGE),
    ("![视频](", Kind.VIDEO),
    ("![动画表情](", Kind.STICKER),
    ("[动画表情]", Kind.STICKER),
    ("[GIF表情]", Kind.STICKER),
    ("[语音](", Kind.VOICE),
    ("[名片]", Kind.CONTACT_CARD),
    ("[位置|", Kind.LOCATION),
    ("[链接|", Kind.LINK),
    ("[文件|", Kind.FILE),
    ("[合并转发", Kind.FORWARD),
    ("[笔记", Kind.LINK),
    ("[小程序", Kind.MINI_PROGRAM),
    ("[视频号", Kind.LINK),
    ("[群公告", Kind.SYSTEM),
    ("[音乐|", Kind.LINK),
    ("[转账|", Kind.TRANSFER),
    ("[红包", Kind.RED_PACKET),
    ("[语音通话]", Kind.CALL),
    ("[分享]", Kind.OTHER),
)
_WHOLE = {"[语音]": Kind.VOICE, "[引用]": Kind.QUOTE}
_UNKNOWN_TYPE = re.compile(r"^Type: \d+ Content: ")


def detect(path: Path) -> float:
    return header_match(path, COLUMNS, damaged_at=4)


def kind_and_text(content: str) -> tuple[Kind, str]:
    """A rendered message's kind, and the text to keep (a quote's reply without the quoted lines)."""
    if content.startswith("> "):
        lines = content.split("\n")
        reply = next((i for i, line in enumerate(lines) if not line.startswith("> ")), len(lines))
        return Kind.QUOTE, "\n".join(lines[reply:]).strip()
    if content in _WHOLE:
        return _WHOLE[content], ""
    for prefix, kind in _PREFIXES:
        if content.startswith(prefix):
            return kind, ""
    if _UNKNOWN_TYPE.match(content):
        return Kind.OTHER, ""
    if is_notice_line(content):  # a pat renders as its template text
        return notice_kind(content), ""
    return Kind.TEXT, content


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    owners = _owners(path, options)
    for line, row in named_rows(path, options, COLUMNS, "chatlog CSV"):
        try:
            timestamp = parse_time(row["Time"], options.timezone)
        except ValueError as error:
            options.diagnostics.malformed(path, line, str(error))
            continue
        sender, sender_name, talker = row["Sender"], row["SenderName"], row["Talker"]
        if sender == SYSTEM_SENDER:
            kind, text = notice_kind(row["Content"]), ""
        else:
            kind, text = kind_and_text(row["Content"])
        is_group = talker.endswith("@chatroom")
        is_me = sender in owners or (bool(sender_name) and sender_name in owners)
        chat_name = row["TalkerName"] or ("" if is_group or is_me else sender_name)
        yield Message(talker, chat_name, sender, sender_name, is_me, timestamp, text, kind, is_group)


def _owners(path: Path, options: ParseOptions) -> set[str]:
    if options.me:
        return set(options.me)
    unnamed: dict[str, int] = {}
    senders: dict[str, int] = {}
    for _, row in named_rows(path, replace(options, diagnostics=Diagnostics(), on_read=None), COLUMNS, "chatlog CSV"):
        sender = row["Sender"]
        if sender == SYSTEM_SENDER:
            continue
        senders[sender] = senders.get(sender, 0) + 1
        if not row["SenderName"] and not row["Talker"].endswith("@chatroom"):
            unnamed[sender] = unnamed.get(sender, 0) + 1
    if len(unnamed) == 1:
        (owner,) = unnamed
        options.diagnostics.warn(
            f"{path}: owner taken to be {owner}, the sender chatlog leaves unnamed in one-to-one chats "
            "(pass --me WXID to say otherwise)"
        )
        return {owner}
    listed = ", ".join(f"{s} ({n})" for s, n in sorted(senders.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
    raise ExportFormatError(path, f"chatlog CSV has no is-self column: pass --me WXID (senders: {listed or 'none'})")
