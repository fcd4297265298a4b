"""How WeFlow renders a message as text, shared by its "weclone" CSV and its detailed JSON (docs/formats.md §6.1).

WeFlow writes every message kind it has no column for as text with a leading marker (`[链接]…`,
`[转账]…`, `[红包]…`), system notices as their plain wording, and a quoted reply as
`<reply>[引用 <sender>：<preview>]`. These rules read the kind back from the marker and cut the
quoted part off a reply. A chat message that happens to start with a marker is taken for that kind:
the markers are WeFlow's own brackets, not WeChat emoji codes, so `[捂脸]` stays text.
"""

from __future__ import annotations

import re

from wechat_twin.training.formats.support.message import Kind
from wechat_twin.training.formats.support.notices import is_notice_line, notice_kind

_MARKERS = (  # first match wins
    ("[图片]", Kind.IMAGE),
    ("[视频通话]", Kind.CALL),
    ("[语音通话]", Kind.CALL),
    ("[通话]", Kind.CALL),
    ("[语音", Kind.VOICE),  # [语音消息], [语音消息 - 转文字失败]: after [语音通话], which it begins
    ("[视频]", Kind.VIDEO),
    ("[名片]", Kind.CONTACT_CARD),
    ("[表情包", Kind.STICKER),  # [表情包], [表情包：caption]
    ("[位置]", Kind.LOCATION),
    ("[文件]", Kind.FILE),
    ("[链接]", Kind.LINK),
    ("[音乐]", Kind.LINK),
    ("[小程序]", Kind.MINI_PROGRAM),
    ("[接龙]", Kind.OTHER),
    ("[红包]", Kind.RED_PACKET),
    ("[转账", Kind.TRANSFER),  # [转账], [转账收款]
    ("[群公告]", Kind.SYSTEM),
    ("[转发的聊天记录]", Kind.FORWARD),
    ("[引用消息]", Kind.QUOTE),  # a reply WeFlow could not render: no text
    ("[其他消息]", Kind.OTHER),
)
_QUOTE_OPEN = "[引用 "
_RECALL = re.compile(r"^\S{1,40} ?撤回了一条消息$")


def kind_and_text(msg: str) -> tuple[Kind, str]:
    """The kind of a message WeFlow typed as text, and the text to keep ("" for non-text)."""
    reply = _quoting_reply(msg)
    if reply is not None:
        return Kind.QUOTE, reply
    for marker, kind in _MARKERS:
        if msg.startswith(marker):
            return kind, ""
    if is_notice_line(msg) or _RECALL.match(msg):
        return notice_kind(msg), ""
    return Kind.TEXT, msg


def reply_text(content: str) -> str:
    """A quoted reply's own text, without WeFlow's `[引用 …]` part."""
    reply = _quoting_reply(content)
    return content if reply is None else reply


def _quoting_reply(text: str) -> str | None:
    """The reply before the first `[引用 ` of a text that ends in `]`, or None when it quotes nothing.
    Two string searches, not a regex: the lazy-then-greedy pattern this replaces backtracked once per
    `[引用 ` in the text, so a friend's message of repeated markers took seconds (issue 27)."""
    start = text.find(_QUOTE_OPEN)
    return text[:start].strip() if start >= 0 and text.endswith("]") else None
