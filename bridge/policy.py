"""Who gets an answer, and when: the rules a person would want before letting a clone talk for them."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from datetime import datetime
from enum import Enum

from wechat_twin.bridge.channels.base import OWNER_REVIEW_CHAT, IncomingMessage
from wechat_twin.bridge.config import BridgeConfig


class Decision(Enum):
    ANSWER = "answer"
    OWNER = "owner"
    IGNORE = "ignore"


class Policy:
    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.paused = False
        self._sent: dict[str, deque[float]] = defaultdict(deque)

    def _listed(self, names: list[str], message: IncomingMessage) -> bool:
        keys = {message.chat_id, message.chat_name, message.remark, message.sender_name}
        return any(name in keys for name in names)

    def classify(self, message: IncomingMessage) -> tuple[Decision, str]:
        if message.from_self:
            if message.chat_id == OWNER_REVIEW_CHAT:
                return Decision.OWNER, "owner"
            return Decision.IGNORE, "own message"
        if message.chat_id == OWNER_REVIEW_CHAT:
            return Decision.IGNORE, "file-transfer helper"
        if message.is_official:
            return Decision.IGNORE, "official account"
        if self._listed(self.config.deny, message):
            return Decision.IGNORE, "deny list"
        if self.config.allow and not self._listed(self.config.allow, message):
            return Decision.IGNORE, "not on the allow list"
        if message.is_group:
            answer_all = self.config.group_overrides.get(
                message.chat_name, self.config.group_overrides.get(message.chat_id)
            )
            needs_mention = self.config.groups_need_mention if answer_all is None else not answer_all
            if needs_mention and not message.mentioned:
                return Decision.IGNORE, "group message without @"
        if not message.text.strip():  # an image, file, video or a voice without WeChat's transcript: not read
            return Decision.IGNORE, "empty" if message.kind == "text" else message.kind
        return Decision.ANSWER, ""

    def may_reply_now(self, chat_id: str, now: float | None = None) -> bool:
        """Paused, quiet hours or over the rate limit: wait (the message stays queued), never drop."""
        now = time.time() if now is None else now
        quiet = self.config.quiet_hours
        if self.paused or (quiet is not None and quiet.contains(datetime.fromtimestamp(now).time())):
            return False
        sent = self._sent[chat_id]
        while sent and now - sent[0] > 60:
            sent.popleft()
        return len(sent) < self.config.replies_per_minute

    def replied(self, chat_id: str, now: float | None = None) -> None:
        self._sent[chat_id].append(time.time() if now is None else now)
