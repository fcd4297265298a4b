"""iLink's message shapes, read and written: a `WeixinMessage` in, text chunks out.

Ids are uint64 on the wire and kept as strings. A message is answered when it carries text. A voice item
carries WeChat's own transcript (`voice_item.text`), as Tencent's client and chatgpt-on-wechat read it: a
non-empty one is the friend's words, taken in as kind `voice`. One with only an image, file, video or a voice
without a transcript is taken in as that kind, which the bridge records and counts but does not answer (the
clone reads text only).
"""

from __future__ import annotations

import time
from typing import Any

from wechat_twin.bridge.channels.base import OWNER_REVIEW_CHAT, IncomingMessage

TEXT_TYPE = 1
VOICE_TYPE = 3
ITEM_KINDS = {2: "image", 3: "voice", 4: "file", 5: "video"}
USER_MESSAGE = 1


def message_id(msg: dict[str, Any]) -> str:
    """The server's id: `message_id`, else the first item's `msg_id`, else the sequence number."""
    items = msg.get("item_list") or [{}]
    for value in (msg.get("message_id"), items[0].get("msg_id"), msg.get("seq")):
        if value not in (None, "", 0):
            return str(value)
    return f"{msg.get('from_user_id', '')}:{msg.get('create_time_ms', time.time_ns())}"


def from_weixin(msg: dict[str, Any], owner_id: str) -> IncomingMessage | None:
    """The bridge's message for a user's message (None for the bot's own echoes); the owner's go to review."""
    if msg.get("message_type", USER_MESSAGE) != USER_MESSAGE:
        return None
    sender = str(msg.get("from_user_id", ""))
    items = msg.get("item_list") or []
    texts = [item.get("text_item", {}).get("text", "") for item in items if item.get("type") == TEXT_TYPE]
    spoken = [item.get("voice_item", {}).get("text", "") for item in items if item.get("type") == VOICE_TYPE]
    kinds = [ITEM_KINDS.get(item.get("type"), "other") for item in items if item.get("type") != TEXT_TYPE]
    text = "\n".join(t for t in texts if t)
    transcript = "\n".join(t for t in spoken if t and t.strip())
    if text or not kinds:
        kind = "text"
    elif transcript:
        text, kind = transcript, "voice"
    else:
        kind = kinds[0]
    owner = bool(owner_id) and sender == owner_id
    created = msg.get("create_time_ms")
    return IncomingMessage(
        message_id=message_id(msg),
        chat_id=OWNER_REVIEW_CHAT if owner else sender,
        chat_name="owner" if owner else sender,
        text=text,
        time=created / 1000 if created else time.time(),
        from_self=owner,
        kind=kind,
    )


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at the last line break or space before the limit when there is one."""
    pieces = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit + 1), text.rfind(" ", 0, limit + 1))
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*pieces, text] if text else pieces
