"""The bridge loop: channel → policy → durable inbox → API → replies split into WeChat messages.

Incoming messages are stored before anything else happens, answered in order per contact
(a burst of pending messages becomes one user turn joined by `\\n`, as in the dataset), and
marked done in the same transaction that records the conversation turn, so a crash or a
restart neither loses nor repeats a message.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence

from wechat_twin.bridge.api_client import ApiUnavailable, CloneApi
from wechat_twin.bridge.channels.base import OWNER_REVIEW_CHAT, Channel, IncomingMessage
from wechat_twin.bridge.config import BridgeConfig, FeedbackFrom
from wechat_twin.bridge.guard import GuardDesk
from wechat_twin.bridge.policy import Decision, Policy
from wechat_twin.bridge.rhythm import Pace, bridge_rhythm
from wechat_twin.bridge.store import BridgeStore, InboxStatus
from wechat_twin.bridge.takeover import ReplyDropped, TakeoverDesk
from wechat_twin.bridge.texts import Texts
from wechat_twin.bridge.waits import WaitLog
from wechat_twin.feedback.store import FeedbackStore

logger = logging.getLogger("wechat_twin.bridge")

MEDIA_KINDS = ("image", "voice", "file", "video")


class Bridge:
    def __init__(self, config: BridgeConfig, channel: Channel, sleep=time.sleep) -> None:
        self.config = config
        self.channel = channel
        self.sleep = sleep
        self.policy = Policy(config)
        self.feedback = FeedbackStore(config.database)
        self.store = BridgeStore(self.feedback)
        self.texts = Texts(config.language)
        self.api = CloneApi(
            config.api_base, config.api_key, config.request_timeout_s, config.retries, config.backoff_s, config.proxy
        )
        self.rhythm = bridge_rhythm(config, lambda: self.api.model_card(config.model), WaitLog(self.feedback))
        self._ab_next = False
        self._lock = threading.RLock()
        self.takeovers = TakeoverDesk(self)
        self.guard_desk = GuardDesk(self)

    def close(self) -> None:
        self.api.close()
        self.feedback.close()

    # incoming
    def receive(self, messages: Sequence[IncomingMessage], state: Mapping[str, str] | None = None) -> None:
        """Take in what a channel delivered: owner commands act at once; the rest is stored in one
        transaction with the channel's `state`, either queued to answer or skipped with its reason.
        A message id seen before is dropped, so a re-delivery after a restart changes nothing."""
        queued: list[tuple[str, str, str, str, float, str]] = []
        skipped: list[tuple[str, str, str, float]] = []
        taken: set[str] = set()
        self.takeovers.note_typed(list(messages))
        with self._lock:
            for message in messages:
                if message.message_id in taken or self.store.seen(message.message_id):
                    continue
                taken.add(message.message_id)
                reason = self._take(message)
                if reason is None:
                    queued.append(
                        (
                            message.message_id,
                            message.chat_id,
                            message.chat_name,
                            message.text,
                            message.time,
                            message.kind,
                        )
                    )
                else:
                    skipped.append((message.message_id, message.chat_id, reason, message.time))
            self.store.receive(queued, skipped, dict(state or {}))
        for *_, reason, _ in skipped:
            if reason in MEDIA_KINDS:
                count = self.store.skipped_counts()[reason]
                logger.info(
                    "not answered: a message with %s from a contact (%d %s messages so far)", reason, count, reason
                )

    def _take(self, message: IncomingMessage) -> str | None:
        """None: answer it; otherwise why not (the reason `skipped` records)."""
        decision, reason = self.policy.classify(message)
        if decision is Decision.OWNER:
            text = message.text.strip()
            if not (self.takeovers.command(text) or self.guard_desk.command(text)):
                self._owner_command(text)
            return "owner"
        if decision is Decision.IGNORE:
            if message.from_self:
                self.takeovers.owner_typed(message)
            return reason
        if self.takeovers.state.holds(message.chat_id):
            self.takeovers.forward(message)
            return "takeover"
        if self._friend_feedback(message):
            return "feedback"
        return None

    def channel_state(self, prefix: str) -> dict[str, str]:
        return self.store.channel_state(prefix)

    def _owner_command(self, text: str) -> None:
        cfg = self.config
        if text in ("/pause", "/resume"):
            self.policy.paused = text == "/pause"
            self._review(self.texts("paused" if self.policy.paused else "resumed"))
        elif text.startswith("/reset"):
            target = text.removeprefix("/reset").strip()
            for chat_id in {r["chat_id"] for r in self.store.inbox_rows() if target in (r["chat_id"], r["chat_name"])}:
                self.store.forget(chat_id)
            self._review(self.texts("memory_cleared", name=target))
        elif text == "/ab":
            self._ab_next = True
        elif text in ("1", "2") and cfg.feedback_from is not FeedbackFrom.FRIENDS:
            self._choose(int(text) - 1, "owner")
        elif text in (cfg.good_word, cfg.bad_word) and cfg.feedback_from is not FeedbackFrom.FRIENDS:
            last = self.feedback.last_reply()
            if last is not None:
                self.feedback.record_label(last["id"], text == cfg.good_word, "owner")
        elif text == "/help":
            self._review(self.texts("help", good=cfg.good_word, bad=cfg.bad_word))
        else:
            self.takeovers.relay(text)

    def _friend_feedback(self, message: IncomingMessage) -> bool:
        """A friend's `1`/`2` or good/bad word is feedback, not chat, where friends may give it."""
        cfg = self.config
        if cfg.feedback_from is FeedbackFrom.OWNER:
            return False
        text = message.text.strip()
        if text in ("1", "2") and cfg.ab_to_friends:
            open_choice = self.feedback.open_choice()
            if open_choice is not None and open_choice["chat_id"] == message.chat_id:
                self._choose(int(text) - 1, message.chat_id)
                return True
        if text in (cfg.good_word, cfg.bad_word):
            last = self.feedback.last_reply(message.chat_id)
            if last is not None:
                self.feedback.record_label(last["id"], text == cfg.good_word, message.chat_id)
                return True
        return False

    def _choose(self, index: int, labeler: str) -> None:
        exchange = self.feedback.open_choice()
        if exchange is None:
            return
        self.feedback.record_choice(exchange["id"], index, labeler)
        chosen = self.feedback.exchange(exchange["id"])["reply"]
        inbox_ids = self.store.in_review(exchange["chat_id"])
        self._deliver(exchange["chat_id"], chosen, "approved")
        self._remember(exchange["chat_id"], inbox_ids, exchange["context"], chosen)

    # answering
    def _context(self, chat_id: str, user_text: str) -> list[dict[str, str]]:
        last = self.store.last_turn_at(chat_id)
        since = time.time() - self.config.session_gap_s
        history = self.store.history(chat_id, since, self.config.memory_turns) if last and last >= since else []
        system = [{"role": "system", "content": self.config.system_prompt}] if self.config.system_prompt else []
        return [*system, *history, {"role": "user", "content": user_text}]

    def _remember(self, chat_id: str, inbox_ids: list[int], context: str | list, reply: str) -> None:
        messages = json.loads(context) if isinstance(context, str) else context
        now = time.time()
        self.store.finish(
            inbox_ids,
            InboxStatus.ANSWERED,
            [(chat_id, "user", messages[-1]["content"], now), (chat_id, "assistant", reply, now)],
        )

    def _deliver(self, chat_id: str, reply: str, author: str = "clone") -> Pace:
        """Send a reply as the owner would: one WeChat message per line, each after a pause the rhythm draws. The
        clone's reply stops (`ReplyDropped`) where the owner took the chat meanwhile: checked again before each line."""
        pace = self.rhythm.pace()
        for line in (part.strip() for part in reply.split("\n")):
            if not line:
                continue
            self.sleep(pace.before(line))
            if author == "clone" and self.takeovers.state.holds(chat_id):
                raise ReplyDropped(chat_id)
            self._send(chat_id, line, author)
            pace.sent()
        self.policy.replied(chat_id)
        return pace

    def _send(self, chat_id: str, text: str, author: str) -> None:
        """One message to a friend, logged with who wrote it (`twin-bridge log`)."""
        self.takeovers.state.bridge_sent(chat_id, text)
        self.channel.send(chat_id, text)
        self.store.log_sent(chat_id, text, author)

    def _review(self, text: str) -> None:
        self.channel.send(OWNER_REVIEW_CHAT, text)

    def process_pending(self, now: float | None = None) -> int:
        """Answer what is queued; returns how many contacts were answered. Safe to call repeatedly."""
        answered = 0
        with self._lock:
            self.takeovers.expire()
            waiting = self.guard_desk.held.open_chats()
            for chat_id in self.store.pending_chats():
                rows = self.store.pending(chat_id)
                if chat_id in waiting or self.takeovers.state.holds(chat_id):
                    continue
                if not rows or not self.policy.may_reply_now(chat_id, now) or not self._due(chat_id, rows):
                    continue
                if self._answer(chat_id, rows, now):
                    answered += 1
                else:
                    break
        return answered

    def _due(self, chat_id: str, rows: list) -> bool:
        """Whether the owner's latency has passed since the friend's last message; a turn the rhythm leaves
        unread (`no_reply = true`) is done here, recorded as such."""
        last = rows[-1]
        if self.rhythm.wait_left(chat_id, (last["chat_name"], chat_id), last["received_at"]) > 0:
            return False
        if self.rhythm.leave_unread(chat_id):
            self.store.finish([r["id"] for r in rows], InboxStatus.UNREAD, [])
            self.rhythm.left_unread(chat_id, last["id"])
            logger.info("read, no reply: %d message(s) from a contact left unanswered, as the owner does", len(rows))
            return False
        return True

    def _answer(self, chat_id: str, rows: list, now: float | None) -> bool:
        """Typing shows from the request to the API until the last line is sent. A turn answered any way (a
        reply, A/B candidates, a guarded hold, the fallback, the owner stepping in) is over: the rhythm's draw
        for it is dropped, so the next turn draws anew; a turn that stays queued keeps its draw."""
        self.channel.typing(chat_id, True)
        answered = False
        try:
            answered = self._generate_and_send(chat_id, rows, now)
        finally:
            self.channel.typing(chat_id, False)
            if answered:
                self.rhythm.forget(chat_id)
        return answered

    def _generate_and_send(self, chat_id: str, rows: list, now: float | None) -> bool:
        cfg = self.config
        inbox_ids = [r["id"] for r in rows]
        chat_name = rows[0]["chat_name"]
        context = self._context(chat_id, "\n".join(r["text"] for r in rows))
        ab = self._ab_next or (cfg.ab_probability > 0 and random.random() < cfg.ab_probability)
        topic = self.guard_desk.matcher.topic(context[-1]["content"])
        try:
            replies = self.api.replies(
                cfg.model, context, 2 if ab else 1, cfg.max_tokens, cfg.temperature, contact=chat_name or chat_id
            )
        except ApiUnavailable as exc:
            if topic:  # the owner answers it, with no draft to send
                self.guard_desk.hold(chat_id, chat_name, topic, inbox_ids, context, None)
                return True
            oldest = min(r["received_at"] for r in rows)
            if (time.time() if now is None else now) - oldest < cfg.answer_deadline_s:
                logger.warning("API unavailable, %d message(s) from a contact stay queued: %s", len(rows), exc)
                return False
            if cfg.fallback_text:
                self._deliver(chat_id, cfg.fallback_text, "owner")
            self.store.finish(inbox_ids, InboxStatus.FALLBACK, [])
            logger.warning("past the deadline: %d message(s) answered with the fallback", len(rows))
            return True
        topic = topic or next(filter(None, map(self.guard_desk.matcher.topic, replies)), None)
        if topic:
            if ab:
                self._ab_next = False
            self.guard_desk.hold(chat_id, chat_name, topic, inbox_ids, context, replies[0])
            return True
        base = self.api.base_model_of(cfg.model)
        if ab:
            self._ab_next = False
            self.store.hold_for_review(inbox_ids, chat_id, chat_name, cfg.model, base, context, replies)
            if cfg.ab_to_friends:
                self._send(chat_id, f"1: {replies[0]}\n2: {replies[1]}", "clone")
            else:
                self._review(
                    self.texts(
                        "choose", name=chat_name, text=context[-1]["content"], first=replies[0], second=replies[1]
                    )
                )
            return True
        reply = replies[0]
        try:
            pace = self._deliver(chat_id, reply)
        except ReplyDropped:  # the owner wrote meanwhile: theirs is the answer
            self.store.finish(inbox_ids, InboxStatus.OWNER, [(chat_id, "user", context[-1]["content"], time.time())])
            return True
        self.rhythm.replied(chat_id, inbox_ids[-1], rows[-1]["received_at"], pace)
        self.feedback.record_exchange(chat_id, chat_name, cfg.model, base, context, reply=reply)
        self._remember(chat_id, inbox_ids, context, reply)
        if cfg.review_replies:
            self._review(
                self.texts(
                    "review",
                    name=chat_name,
                    text=context[-1]["content"],
                    reply=reply,
                    good=cfg.good_word,
                    bad=cfg.bad_word,
                )
            )
        return True
