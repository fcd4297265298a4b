"""WeChat through Tencent's official bot API (iLink): the bot is its own WeChat contact, friends message it.

The receive loop long-polls `getupdates` and hands each batch to the bridge together with the new
cursor and the senders' latest `context_token`s, which the bridge stores in the transaction that queues
the messages: a crash or a restart neither loses nor repeats a friend's message. Network errors, 5xx and
timeouts back off and retry (2 s, then a 30 s pause after 3 in a row, as Tencent's client does); a
stale token (`-14`) pauses sending and receiving, asks for a new scan and carries on with the queue
intact. A refused send is retried with a growing backoff and never dropped. The owner is a contact of
the bot too: their messages are the commands, picks and labels the file-transfer helper takes on itchat.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from wechat_twin.bridge.channels.base import OWNER_REVIEW_CHAT, Channel, ChannelStopped, Inbox, IncomingMessage
from wechat_twin.bridge.channels.weixin.api import IlinkClient, IlinkError, StaleToken
from wechat_twin.bridge.channels.weixin.hosts import checked_base
from wechat_twin.bridge.channels.weixin.login import (
    CREDENTIALS_FILE,
    Credentials,
    QrLogin,
    load_credentials,
    save_credentials,
)
from wechat_twin.bridge.channels.weixin.messages import from_weixin, split_text
from wechat_twin.bridge.config import WeixinConfig
from wechat_twin.bridge.texts import Texts

logger = logging.getLogger("wechat_twin.bridge.weixin")

CURSOR_KEY = "weixin.cursor"
CONTEXT_PREFIX = "weixin.context:"
TRANSIENT = (httpx.HTTPError, IlinkError, ValueError)


class _Typing:
    """Typing shown to one contact: sent at once, repeated every few seconds until stopped."""

    def __init__(self, beat: Callable[[], None], every_s: float) -> None:
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, args=(beat, every_s), name="typing", daemon=True)
        self.thread.start()

    def _loop(self, beat: Callable[[], None], every_s: float) -> None:
        while not self.done.wait(every_s):
            beat()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


class WeixinChannel(Channel):
    def __init__(
        self,
        settings: WeixinConfig,
        data_dir: Path,
        say: Callable[[str], None],
        ask_code: Callable[[], str],
        confirm_owner: Callable[[str], bool],
        texts: Texts | None = None,
    ) -> None:
        self.settings = settings
        self.texts = texts or Texts()
        self.data_dir = data_dir
        self.say = say
        self.ask_code = ask_code
        self.confirm_owner = confirm_owner
        self.stop = threading.Event()
        self.client = IlinkClient(settings.base_url, proxy=settings.proxy)
        self.credentials: Credentials | None = None
        self.owner_id = settings.owner_user_id
        self._declined: set[str] = set()
        self._contexts: dict[str, str] = {}
        self._tickets: dict[str, str] = {}
        self._typing: dict[str, _Typing] = {}
        self._typing_lock = threading.Lock()
        self._ready = threading.Event()
        self._login_lock = threading.Lock()
        self._fatal: BaseException | None = None

    # login
    def _use(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.client.base_url = credentials.base_url
        self.client.token = credentials.bot_token
        self.owner_id = self.settings.owner_user_id or credentials.user_id
        if self.owner_id:
            self.say(self.texts("owner_known", owner=self.owner_id))

    def _login(self, known: Credentials | None) -> Credentials:
        """A new login, taken only from the owner once one is known (configured, or from the last login)."""
        login = QrLogin(
            self.client, self.settings.base_url, self.settings, self.data_dir, self.say, self.ask_code, texts=self.texts
        )
        return login.run(known, owner=self.owner_id)

    def _relogin(self, stale_token: str) -> None:
        """`-14` from any call: one thread scans anew while the others wait; the queue is untouched."""
        with self._login_lock:
            if self.client.token != stale_token:
                return
            self._ready.clear()
            self.say(self.texts("session_ended"))
            try:
                self._use(self._login(None))
            except BaseException as exc:
                self._fatal = exc
                self.stop.set()
                raise ChannelStopped("the weixin login ended") from exc
            self._tickets.clear()
            self._ready.set()

    # receiving
    def run(self, inbox: Inbox) -> None:
        known = load_credentials(self.data_dir)
        if known is not None and known.base_url != self.settings.base_url.rstrip("/"):
            checked_base(known.base_url, self.settings, f"(kept in {CREDENTIALS_FILE}) the account's API base")
        self._use(known if known is not None else self._login(None))
        self._contexts = {
            key.removeprefix(CONTEXT_PREFIX): value for key, value in inbox.channel_state(CONTEXT_PREFIX).items()
        }
        cursor = inbox.channel_state(CURSOR_KEY).get(CURSOR_KEY, "")
        self._notify("ilink/bot/msg/notifystart")
        self._ready.set()
        try:
            self._poll(inbox, cursor)
        except ChannelStopped:
            if self._fatal is None:
                raise
        finally:
            self.stop.set()
            self._ready.set()
            with self._typing_lock:
                for typing in self._typing.values():
                    typing.stop()
                self._typing.clear()
            if self._fatal is None:
                self._notify("ilink/bot/msg/notifystop")
            self.client.close()
        if self._fatal is not None:
            raise self._fatal

    def _notify(self, endpoint: str) -> None:
        """notifystart/notifystop tell iLink the bot is online; Tencent's client ignores their failures too."""
        try:
            self.client.post(endpoint, {}, timeout_s=10.0)
        except TRANSIENT as exc:
            logger.info("%s failed (ignored): %s", endpoint, exc)

    def _poll(self, inbox: Inbox, cursor: str) -> None:
        failures, timeout_s = 0, self.settings.poll_timeout_s
        while not self.stop.is_set():
            token = self.client.token
            try:
                answer = self.client.get_updates(cursor, timeout_s + 5)
            except StaleToken:
                self._relogin(token)
                continue
            except TRANSIENT as exc:
                failures += 1
                pause = self.settings.retry_s
                if failures >= self.settings.failures_before_pause:
                    failures, pause = 0, self.settings.pause_s
                logger.warning("getupdates failed (%s): retrying in %.1f s", exc, pause)
                self.stop.wait(pause)
                continue
            failures = 0
            if answer.get("longpolling_timeout_ms"):
                timeout_s = answer["longpolling_timeout_ms"] / 1000
            cursor = self._take_in(inbox, answer.get("msgs") or [], answer.get("get_updates_buf") or cursor)

    def _take_in(self, inbox: Inbox, raw_messages: list[dict[str, Any]], cursor: str) -> str:
        messages: list[IncomingMessage] = []
        contexts: dict[str, str] = {}
        for raw in raw_messages:
            sender = str(raw.get("from_user_id", ""))
            self._learn_owner(sender, raw)
            message = from_weixin(raw, self.owner_id)
            if message is not None:
                messages.append(message)
                if raw.get("context_token"):
                    contexts[sender] = str(raw["context_token"])
        state = {CURSOR_KEY: cursor, **{CONTEXT_PREFIX + user: token for user, token in contexts.items()}}
        self._contexts.update(contexts)  # before the messages are queued, so no reply to them goes out without it
        inbox.receive(messages, state)
        return cursor

    def _learn_owner(self, sender: str, raw: dict[str, Any]) -> None:
        """No owner known (none configured, none from the login): the first sender is offered, the terminal confirms."""
        if self.owner_id or not sender or sender in self._declined or raw.get("message_type", 1) != 1:
            return
        if not self.confirm_owner(sender):
            self._declined.add(sender)
            return
        self.owner_id = sender
        if self.credentials is not None:
            self.credentials = self.credentials.model_copy(update={"user_id": sender})
            save_credentials(self.data_dir, self.credentials)
        self.say(self.texts("owner_set", owner=sender))

    # sending
    def _user(self, chat_id: str) -> str:
        return self.owner_id if chat_id == OWNER_REVIEW_CHAT else chat_id

    def _wait_ready(self) -> None:
        while not self._ready.wait(0.5):
            if self.stop.is_set():
                raise ChannelStopped("the weixin channel stopped")
        if self.stop.is_set():
            raise ChannelStopped("the weixin channel stopped")

    def send(self, chat_id: str, text: str) -> None:
        user = self._user(chat_id)
        if not user:
            self.say(self.texts("owner_unknown", text=text))
            return
        for piece in split_text(text, self.settings.text_limit):
            self._send_piece(user, piece)

    def _send_piece(self, user: str, piece: str) -> None:
        """Until iLink takes it: the same client id on every try, the wait doubling up to its cap."""
        client_id = f"wechat-twin:{time.time_ns() // 1_000_000}-{secrets.token_hex(4)}"
        delay = self.settings.send_backoff_s
        while True:
            self._wait_ready()
            token = self.client.token
            try:
                self.client.send_text(user, piece, self._contexts.get(user), client_id)
                return
            except StaleToken:
                self._relogin(token)
                continue
            except TRANSIENT as exc:
                logger.warning("sendmessage refused (%s): trying again in %.1f s", exc, delay)
            if self.stop.wait(delay):
                raise ChannelStopped("the weixin channel stopped with a reply unsent; it stays queued")
            delay = min(delay * 2, self.settings.send_backoff_max_s)

    def typing(self, chat_id: str, active: bool) -> None:
        user = self._user(chat_id)
        if not user or chat_id == OWNER_REVIEW_CHAT:
            return
        with self._typing_lock:
            if self.stop.is_set():
                return
            if active:
                if user not in self._typing and self._beat(user, True):
                    self._typing[user] = _Typing(lambda: self._beat(user, True), self.settings.typing_keepalive_s)
                return
            shown = self._typing.pop(user, None)
            if shown is not None:
                shown.stop()
                self._beat(user, False)

    def _beat(self, user: str, active: bool) -> bool:
        """One sendtyping; without a ticket (getconfig failed) typing is skipped, as Tencent's client does."""
        try:
            if user not in self._tickets:
                self._tickets[user] = self.client.typing_ticket(user, self._contexts.get(user))
            if self._tickets[user]:
                self.client.send_typing(user, self._tickets[user], active)
                return True
        except TRANSIENT as exc:
            logger.info("typing skipped: %s", exc)
        return False
