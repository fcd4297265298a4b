"""The owner takes a conversation over: the clone steps back from that one contact until it is given back.

Two ways in. Through the bot (weixin) or the file-transfer helper / console: `/take NAME` opens a takeover,
the friend's messages are forwarded to the owner, and the owner's messages that are no command go to that
friend (the latest `/take` is the one they go to); `/release` or `takeover_idle_minutes` without a word
from the owner gives the contact back, `/who` lists the open ones. On the owner's own account (itchat):
a message the owner types into a chat pauses the clone there for the same idle time, and a reply being
written is checked again before each bubble and dropped. Takeovers live in memory: a restart gives every
contact back to the clone (the owner is told at start by nothing, so `/who` after a restart says none).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wechat_twin.bridge.channels.base import OWNER_REVIEW_CHAT, IncomingMessage
from wechat_twin.bridge.store import InboxStatus

if TYPE_CHECKING:
    from wechat_twin.bridge.service import Bridge

ECHO_WINDOW_S = 120.0  # a message the bridge sent that a transport shows back as the owner's is not the owner's


class ReplyDropped(Exception):
    """The owner wrote into the chat while the clone's reply was going out: the rest of it is not sent."""


@dataclass
class Takeover:
    chat_id: str
    chat_name: str
    relayed: bool  # True: opened with /take (messages relayed through the bot); False: the owner typed in the chat
    last_owner_at: float


class Takeovers:
    """Which chats the owner holds, thread-safe: the receive thread notes the owner while a reply is written."""

    def __init__(self, idle_s: float, clock: Callable[[], float] = time.time) -> None:
        self.idle_s = idle_s
        self.clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, Takeover] = {}
        self._target: str | None = None
        self._sent: deque[tuple[str, str, float]] = deque(maxlen=200)

    def take(self, chat_id: str, chat_name: str, relayed: bool) -> None:
        with self._lock:
            self._open[chat_id] = Takeover(chat_id, chat_name, relayed, self.clock())
            if relayed:
                self._target = chat_id

    def owner_spoke(self, chat_id: str) -> None:
        with self._lock:
            if chat_id in self._open:
                self._open[chat_id].last_owner_at = self.clock()

    def holds(self, chat_id: str) -> bool:
        with self._lock:
            takeover = self._open.get(chat_id)
            return takeover is not None and self.clock() - takeover.last_owner_at < self.idle_s

    def target(self) -> Takeover | None:
        """Where the owner's next message goes: the latest `/take` still open."""
        with self._lock:
            return self._open.get(self._target) if self._target else None

    def release(self, chat_id: str) -> Takeover | None:
        with self._lock:
            if self._target == chat_id:
                self._target = None
            return self._open.pop(chat_id, None)

    def expired(self) -> list[Takeover]:
        """The takeovers idle past `idle_s`, removed."""
        now = self.clock()
        with self._lock:
            gone = [t for t in self._open.values() if now - t.last_owner_at >= self.idle_s]
        return [t for t in (self.release(t.chat_id) for t in gone) if t is not None]

    def open(self) -> list[Takeover]:
        with self._lock:
            return list(self._open.values())

    def bridge_sent(self, chat_id: str, text: str) -> None:
        with self._lock:
            self._sent.append((chat_id, text, self.clock()))

    def is_echo(self, chat_id: str, text: str) -> bool:
        """A transport that shows the bridge's own sends back as the owner's (itchat may): not the owner typing."""
        now = self.clock()
        with self._lock:
            return any(c == chat_id and t == text and now - at < ECHO_WINDOW_S for c, t, at in self._sent)


class TakeoverDesk:
    """The owner's side of takeovers: `/take`, `/release`, `/who`, relaying both ways, pausing on itchat."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.state = Takeovers(bridge.config.takeover_idle_minutes * 60)

    def note_typed(self, messages: list[IncomingMessage]) -> None:
        """Before the bridge's lock (a reply may hold it): the owner typed into a chat, so pause it now and a
        reply in flight is dropped at its next bubble."""
        for message in messages:
            owner_in_chat = message.from_self and message.chat_id != OWNER_REVIEW_CHAT
            if owner_in_chat and not self.state.is_echo(message.chat_id, message.text.strip()):
                self.state.take(message.chat_id, message.chat_name, relayed=False)

    def owner_typed(self, message: IncomingMessage) -> None:
        """What the owner wrote in the chat joins the clone's memory, after what they answered."""
        if not self.state.holds(message.chat_id) or not message.text.strip():
            return
        store = self.bridge.store
        rows = store.pending(message.chat_id)
        now = time.time()
        turns = [(message.chat_id, "user", "\n".join(r["text"] for r in rows), now)] if rows else []
        store.finish(
            [r["id"] for r in rows],
            InboxStatus.OWNER,
            [*turns, (message.chat_id, "assistant", message.text.strip(), now)],
        )

    def forward(self, message: IncomingMessage) -> None:
        """A friend's message while the owner holds the chat: to the owner (when relayed) and into memory."""
        takeover = next((t for t in self.state.open() if t.chat_id == message.chat_id), None)
        if takeover is not None and takeover.relayed:
            self.bridge._review(self.bridge.texts("take_forward", name=message.chat_name, text=message.text))
        self.bridge.store.finish([], InboxStatus.OWNER, [(message.chat_id, "user", message.text, time.time())])

    def command(self, text: str) -> bool:
        """`/take NAME`, `/release [NAME]`, `/who`; False when `text` is none of them."""
        word, _, rest = text.partition(" ")
        rest = rest.strip()
        if word == "/take" and rest:
            self._take(rest)
        elif word == "/release":
            self._release(rest)
        elif word == "/who":
            self._who()
        else:
            return False
        return True

    def relay(self, text: str) -> bool:
        """The owner's message goes to the friend they took over; False when no takeover is open."""
        takeover = self.state.target()
        if text.startswith("/") or takeover is None or not self.state.holds(takeover.chat_id):
            return False
        self.state.owner_spoke(takeover.chat_id)
        self.bridge._send(takeover.chat_id, text, "owner")
        self.bridge.store.finish([], InboxStatus.OWNER, [(takeover.chat_id, "assistant", text, time.time())])
        return True

    def expire(self) -> None:
        for takeover in self.state.expired():
            if takeover.relayed:
                self.bridge._review(
                    self.bridge.texts("take_idle", name=takeover.chat_name, minutes=f"{self.state.idle_s / 60:g}")
                )

    def _contacts(self) -> dict[str, str]:
        """Every contact the bridge knows (id → the name it knows them by), from what they sent."""
        rows = self.bridge.store.inbox_rows()
        return {r["chat_id"]: r["chat_name"] for r in rows if r["chat_id"] != OWNER_REVIEW_CHAT}

    def _matches(self, query: str) -> dict[str, str]:
        contacts, folded = self._contacts(), query.casefold()
        exact = {i: n for i, n in contacts.items() if folded in (i.casefold(), n.casefold())}
        return exact or {i: n for i, n in contacts.items() if folded in i.casefold() or folded in n.casefold()}

    def _take(self, query: str) -> None:
        texts, matches = self.bridge.texts, self._matches(query)
        if len(matches) != 1:
            choices = "\n".join(f"{name} ({chat_id})" for chat_id, name in matches.items())
            self.bridge._review(
                texts("take_choose", query=query, choices=choices) if matches else texts("take_none", query=query)
            )
            return
        ((chat_id, name),) = matches.items()
        self.state.take(chat_id, name, relayed=True)
        store = self.bridge.store
        rows = store.pending(chat_id)
        if rows:  # what waited for the clone is the owner's now
            waiting = "\n".join(r["text"] for r in rows)
            store.finish([r["id"] for r in rows], InboxStatus.OWNER, [(chat_id, "user", waiting, time.time())])
            self.bridge._review(texts("take_forward", name=name, text=waiting))
        self.bridge._review(texts("take_started", name=name))

    def _release(self, query: str) -> None:
        target = self.state.target()
        if query:
            found = self._matches(query)
            chat_id = next((c for c in found if any(t.chat_id == c for t in self.state.open())), None)
        else:
            chat_id = target.chat_id if target else next((t.chat_id for t in self.state.open() if t.relayed), None)
        released = self.state.release(chat_id) if chat_id else None
        texts = self.bridge.texts
        self.bridge._review(texts("released", name=released.chat_name) if released else texts("take_nothing"))

    def _who(self) -> None:
        names = [t.chat_name for t in self.state.open() if self.state.holds(t.chat_id)]
        texts = self.bridge.texts
        self.bridge._review(texts("who", names="、".join(names)) if names else texts("take_nothing"))
