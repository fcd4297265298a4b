"""The seam between the bridge and a transport (weixin, itchat, the console): receive, send, show typing."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

OWNER_REVIEW_CHAT = "filehelper"


@dataclass(frozen=True)
class IncomingMessage:
    """One received message. `chat_name`, `sender_name` and `remark` pick the contact's memory and
    match the allow/deny/group rules, so a channel fills them only with names the owner set or ids the
    transport gives, never with a name the other side chose (a nickname, a group's name)."""

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
    # text; voice (`text` is WeChat's transcript: answered, stored as voice); or what else it carried without
    # text (image, file, video, a voice without a transcript): not answered, counted
    kind: str = "text"


class ChannelStopped(RuntimeError):
    """The channel is shutting down: what was being sent stays queued for the next start."""


class Inbox(Protocol):
    """What a channel hands its messages to (the bridge)."""

    def receive(self, messages: Sequence[IncomingMessage], state: Mapping[str, str] | None = None) -> None:
        """Store the messages and, in the same transaction, the channel's `state` (e.g. its update cursor)."""

    def channel_state(self, prefix: str) -> dict[str, str]:
        """The state stored with earlier messages, keys starting with `prefix`."""


class Channel(abc.ABC):
    @abc.abstractmethod
    def send(self, chat_id: str, text: str) -> None:
        """Deliver one WeChat message; raise on failure so the bridge can retry."""

    @abc.abstractmethod
    def run(self, inbox: Inbox) -> None:
        """Block, handing each received message to `inbox.receive` until stopped."""

    def typing(self, chat_id: str, active: bool) -> None:  # noqa: B027 (a no-op where a transport has no typing)
        """Show (or stop showing) that a reply is being written."""
