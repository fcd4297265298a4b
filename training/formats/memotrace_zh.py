"""MemoTrace's 2025 per-chat CSV for WeChat 4.0, with Chinese headers (docs/formats.md §1.2, shape G).

One file per chat named after the contact; types are Chinese names; the owner is not marked (the
`发送人` column holds display names), so the owner comes from `--me` or from the chat's name.
Quoted replies carry their reply text before `\\n引用：`, so they are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from wechat_twin.errors import readable
from wechat_twin.training.formats.support.csvfile import header_match, named_rows
from wechat_twin.training.formats.support.message import Diagnostics, Kind, Message, ParseOptions
from wechat_twin.training.formats.support.notices import notice_kind
from wechat_twin.training.formats.support.owner import owner_names
from wechat_twin.training.formats.support.times import parse_time

NAME = "memotrace-zh"
DESCRIPTION = "MemoTrace 2025 CSV for WeChat 4.0 (消息ID,类型,发送人,时间,内容,...)"

COLUMNS = ("消息ID", "类型", "发送人", "时间", "内容", "备注", "昵称", "更多信息")
REQUIRED = ("类型", "发送人", "时间", "内容")
QUOTE_MARK = "\n引用："

_KINDS = {
    "文本": Kind.TEXT,
    "引用消息": Kind.QUOTE,
    "图片": Kind.IMAGE,
    "视频": Kind.VIDEO,
    "语音": Kind.VOICE,
    "表情包": Kind.STICKER,
    "音视频通话": Kind.CALL,
    "文件": Kind.FILE,
    "位置分享": Kind.LOCATION,
    "分享链接": Kind.LINK,
    "音乐分享": Kind.LINK,
    "视频号": Kind.LINK,
    "收藏笔记": Kind.LINK,
    "红包": Kind.RED_PACKET,
    "转账": Kind.TRANSFER,
    "合并转发的聊天记录": Kind.FORWARD,
    "小程序": Kind.MINI_PROGRAM,
    "个人/公众号名片": Kind.CONTACT_CARD,
    "企业微信名片": Kind.CONTACT_CARD,
    "拍一拍": Kind.PAT,
}


def detect(path: Path) -> float:
    return header_match(path, COLUMNS, damaged_at=4)


def _rows(path: Path, options: ParseOptions) -> Iterator[tuple[int, dict[str, str]]]:
    return named_rows(path, options, REQUIRED, "MemoTrace CSV")


def _text(kind: Kind, content: str) -> str:
    if kind is Kind.QUOTE:
        return content.split(QUOTE_MARK, 1)[0]
    return content if kind is Kind.TEXT else ""


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    chat = readable(path.stem)
    speakers: dict[str, int] = {}
    if not options.me:  # a first pass only counts speakers: its malformed rows are reported by the second
        for _, row in _rows(path, replace(options, diagnostics=Diagnostics())):
            speakers[row["发送人"]] = speakers.get(row["发送人"], 0) + 1
    owners = owner_names(path, speakers, chat, options, "MemoTrace's Chinese-header CSV")
    for line, row in _rows(path, options):
        type_name, sender, content = row["类型"], row["发送人"], row["内容"]
        try:
            timestamp = parse_time(row["时间"], options.timezone)
        except ValueError as error:
            options.diagnostics.malformed(path, line, str(error))
            continue
        kind = notice_kind(content) if type_name == "系统消息" else _KINDS.get(type_name, Kind.OTHER)
        yield Message(chat, chat, sender, sender, sender in owners, timestamp, _text(kind, content), kind)
