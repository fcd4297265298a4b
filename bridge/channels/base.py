"""The seam between the bridge and a transport (itchat today, anything with receive/send tomorrow)."""

from __future__ import annotations

import abc
from dataclasses import dataclass

OWNER_REVIEW_CHAT = "filehelper"


@dataclass(frozen=True)
class IncomingMessage:
    message_id: str
    chat_id: str
    chat_name: str
    text: str
    time: float
    from_self: bool = False
    is_group: bool = False
    mentioned: bool = False
    is_official: bool = False
    sender_name: str = ""
    remark: str = ""


class Channel(abc.ABC):
    @abc.abstractmethod
    def send(self, chat_id: str, text: str) -> None:
        """Deliver one WeChat message; raise on failure so the bridge can retry."""

    @abc.abstractmethod
    def run(self, on_message) -> None:
        """Block, calling `on_message(IncomingMessage)` for each message until stopped."""
