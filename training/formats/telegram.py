"""Telegram Desktop's JSON export (`result.json`), one chat or the whole account (docs/formats.md §4).

The owner is `personal_information.user_id` in a full export; a single-chat export does not say,
so `--me` names the owner (display name or `from_id`). Text may be a string or a list of strings
and entity objects; media, service messages and forwards are labelled so cleaning drops them, and
a photo, video or file with a caption becomes two messages: the media (dropped) and its caption.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wechat_twin.training.formats.support import jsonfile
from wechat_twin.training.formats.support.message import ExportFormatError, Kind, Message, ParseOptions
from wechat_twin.training.formats.support.owner import owner_names
from wechat_twin.training.formats.support.textio import head
from wechat_twin.training.formats.support.times import parse_time

NAME = "telegram"
DESCRIPTION = "Telegram Desktop JSON export (result.json)"

CAPTIONED = frozenset({Kind.IMAGE, Kind.VIDEO, Kind.FILE})  # media that can carry a caption
GROUP_TYPES = {"private_group", "private_supergroup", "public_supergroup", "private_channel", "public_channel"}
_CHAT_TYPE = re.compile(
    r'"type"\s*:\s*"(?:personal_chat|bot_chat|saved_messages|private_group|private_supergroup|'
    r'public_supergroup|private_channel|public_channel)"'
)
_MEDIA = {
    "sticker": Kind.STICKER,
    "voice_message": Kind.VOICE,
    "audio_file": Kind.VOICE,
    "video_file": Kind.VIDEO,
    "video_message": Kind.VIDEO,
    "animation": Kind.STICKER,
}


def detect(path: Path) -> float:
    text = head(path).lstrip()
    if not text.startswith("{"):
        return 0.0
    if '"personal_information"' in text and '"chats"' in text:
        return 0.95
    return 0.9 if '"messages"' in text and _CHAT_TYPE.search(text) else 0.0


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    data = jsonfile.load(path, options)
    if not isinstance(data, dict):
        raise ExportFormatError(path, "not a Telegram export: the top level is not an object")
    if "chats" in data:
        chats = data["chats"].get("list", []) if isinstance(data["chats"], dict) else []
    elif "messages" in data:
        chats = [data]
    else:
        raise ExportFormatError(path, "not a Telegram export: no 'messages' and no 'chats'")
    owners = _owners(path, data, chats, options)
    for chat in chats:
        yield from _chat_messages(path, chat, owners, options)


def _owners(path: Path, data: dict[str, Any], chats: list[dict[str, Any]], options: ParseOptions) -> set[str]:
    user_id = (data.get("personal_information") or {}).get("user_id")
    if user_id is not None and not options.me:
        return {f"user{user_id}"}
    speakers: dict[str, int] = {}
    for chat in chats:
        for message in chat.get("messages", []):
            if message.get("from"):
                speakers[message["from"]] = speakers.get(message["from"], 0) + 1
    name = chats[0].get("name", "") if len(chats) == 1 else ""
    return owner_names(path, speakers, name or "", options, "a single-chat Telegram export")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in value)
    return ""


def _kind(message: dict[str, Any]) -> Kind:
    if message.get("type") != "message":
        return Kind.CALL if message.get("action") == "phone_call" else Kind.SYSTEM
    if message.get("forwarded_from"):
        return Kind.FORWARD
    if "media_type" in message:
        return _MEDIA.get(message["media_type"], Kind.FILE)
    if "photo" in message:
        return Kind.IMAGE
    if "file" in message:
        return Kind.FILE
    if "location_information" in message:
        return Kind.LOCATION
    if "contact_information" in message:
        return Kind.CONTACT_CARD
    if "poll" in message:
        return Kind.OTHER
    return Kind.TEXT


def _chat_messages(path: Path, chat: dict[str, Any], owners: set[str], options: ParseOptions) -> Iterator[Message]:
    chat_id = f"telegram:{chat.get('id', chat.get('name', ''))}"
    chat_name = chat.get("name") or chat_id
    is_group = chat.get("type") in GROUP_TYPES
    for message in chat.get("messages", []):
        where = f"message id {message.get('id', '?')}"
        try:
            if "date_unixtime" in message:
                timestamp = float(message["date_unixtime"])
            else:
                timestamp = parse_time(str(message["date"]), options.timezone)
        except (KeyError, ValueError) as error:
            options.diagnostics.malformed(path, where, f"no readable date ({error})")
            continue
        sender_id = str(message.get("from_id") or message.get("actor_id") or "")
        sender_name = str(message.get("from") or message.get("actor") or "")
        kind = _kind(message)
        text = _text(message.get("text"))
        is_me = sender_id in owners or sender_name in owners
        if kind in CAPTIONED and text:  # the media is dropped and counted, its caption is the owner's words
            yield Message(chat_id, chat_name, sender_id, sender_name, is_me, timestamp, "", kind, is_group)
            kind = Kind.TEXT
        text = text if kind is Kind.TEXT else ""
        yield Message(chat_id, chat_name, sender_id, sender_name, is_me, timestamp, text, kind, is_group)
