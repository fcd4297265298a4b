"""WeChat's system notices: how to recognise one from its wording, and what kind it is.

Every exporter writes them as plain text (MemoTrace `Type=10000`, PyWxDump `系统通知`, a bare
line in WechatExporter TXT where only the wording tells them from a continuation line), so
the wording rules live here once.
"""

from __future__ import annotations

import re

from wechat_twin.training.formats.support.message import Kind

_RECALL = re.compile(r"撤回了一条消息|revokemsg|weixin://revoke_edit_click|recalled a message")
_PAT = re.compile(r"拍了拍|patted")
_RED_PACKET = re.compile(r"红包")

# Wordings of notices as WechatExporter TXT writes them: a line that matches is a notice, never
# part of the previous message. Anchored on whole lines so chat text quoting them stays text.
_NOTICE_LINE = re.compile(
    "|".join(
        (
            r"^System Message: .*$",
            r"^系统消息[：:].*$",
            r'^(?:"[^"\n]*"|你|我) ?撤回了一条消息.*$',
            r'^(?:"[^"\n]*"|你|我) ?拍了拍.*$',
            r"^(?:你|我)?领取了.{0,40}的红包$",
            r"^.{0,40}领取了你的红包$",
            r"^你已添加了.{0,60}，现在可以开始聊天了。?$",
            r"^.{0,60}开启了朋友验证，你还不是他（她）朋友.*$",
            r"^以上是打招呼的内容$",
            r"^(?:\"[^\"\n]*\"|你) ?邀请.{0,200}加入了群聊(?:，群聊参与人还有：.*)?$",
            r"^\"[^\"\n]*\"通过扫描.{0,80}加入群聊$",
            r"^(?:\"[^\"\n]*\"|你) ?修改群名为.*$",
            r"^(?:\"[^\"\n]*\"|你) ?将.{0,80}移出了群聊$",
            r"^你被.{0,80}移出群聊$",
            r"^(?:群公告|群主已启用).*$",
            r"^.{0,40}与群里其他人都不是朋友关系，请注意隐私安全$",
            r"^消息已发出，但被对方拒收了。$",
        )
    )
)


def notice_kind(text: str, subtype: str = "") -> Kind:
    """The kind of a notice, from its WeChat subtype where known (4 = pat) and its wording."""
    if subtype == "4" or _PAT.search(text):
        return Kind.PAT
    if subtype in ("1", "5", "6", "33", "36", "57") or _RECALL.search(text):
        return Kind.RECALL
    if _RED_PACKET.search(text):
        return Kind.RED_PACKET
    return Kind.SYSTEM


def is_notice_line(line: str) -> bool:
    return _NOTICE_LINE.match(line) is not None
