"""Guarded topics: what the clone must never settle on its own (money, codes, meeting promises, politics).

A friend's message or the clone's draft that touches a guarded topic is held: nothing goes to the friend
but the optional `holding_reply`, and the owner gets the message, the topic and the draft from the bot and
answers `/send` (the draft goes out), `/say TEXT` (their own words) or `/skip` (nothing). Held exchanges
are rows of `held` in the bridge's database, so a restart keeps them waiting for the owner; the clone's
draft never enters the feedback export, only what the owner let out.

The words are matched as substrings (case-insensitive), the patterns with `re.search`: a guard errs on
the side of asking the owner once too often.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator, model_validator

from wechat_twin.bridge.store import InboxStatus

if TYPE_CHECKING:
    from wechat_twin.bridge.service import Bridge

# The default topics, each switchable (`[guard.topics.money] enabled = false`) and extendable.
# fmt: off
DEFAULT_TOPICS: dict[str, dict[str, list[str]]] = {
    "money": {
        "words": ["借钱", "借我", "借点", "转账", "转给我", "转我", "打钱", "打款", "汇款", "红包", "还钱",
                  "收款码", "付款码", "垫付", "欠款", "借款", "贷款", "lend me", "wire money", "transfer money"],
        "patterns": [r"借.{0,6}\d+\s*(块|元|万|千|百)", r"(?i)\b(send|pay|transfer)\b.{0,20}\$\s*\d+"],
    },
    "codes": {
        "words": ["验证码", "校验码", "动态码", "密码", "银行卡", "卡号", "身份证", "支付密码", "CVV",
                  "verification code", "password", "passcode", "pin code"],
        "patterns": [r"\bPIN\b", r"(?i)\bcode\b.{0,12}\b(send|give|tell)\b",
                     r"(?i)\b(send|give|tell)\b.{0,12}\bcode\b"],
    },
    "meeting": {
        "words": ["见面", "见个面", "地址", "几点到", "几点见", "在哪见", "来接", "接你", "去接", "住哪",
                  "定位", "发个位置", "约个时间", "meet up", "pick you up", "your address", "my address"],
        "patterns": [r"几点.{0,3}(到|见|来|去)", r"(明天|今晚|周末|下午|晚上).{0,6}(见|碰头|过来)"],
    },
    "politics": {
        "words": ["政治", "政府", "共产党", "总书记", "国家主席", "领导人", "习近平", "选举", "游行", "示威",
                  "抗议", "台独", "港独", "六四", "天安门", "法轮功", "翻墙", "politics", "election"],
        "patterns": [],
    },
}
# fmt: on


class GuardTopic(BaseModel):
    """One topic: `words` (substrings) and `patterns` (regular expressions), checked on both sides."""

    enabled: bool = True
    words: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return patterns


class GuardConfig(BaseModel):
    """`[guard]`: `enabled`, `holding_reply`, and `[guard.topics.NAME]` tables. A default topic named there
    keeps what is not given (`enabled = false` alone switches it off); a new name adds the owner's own."""

    enabled: bool = True
    holding_reply: str = Field(
        default="", description="Sent to the friend at once when a message is held (e.g. 等下回你); empty: nothing"
    )
    topics: dict[str, GuardTopic] = Field(
        default_factory=lambda: {name: GuardTopic(**topic) for name, topic in DEFAULT_TOPICS.items()}
    )

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, values: Any) -> Any:
        if not isinstance(values, dict) or "topics" not in values:
            return values
        given = values["topics"] or {}
        merged: dict[str, Any] = {name: dict(topic) for name, topic in DEFAULT_TOPICS.items()}
        for name, topic in given.items():
            fields = topic.model_dump(exclude_unset=True) if isinstance(topic, GuardTopic) else dict(topic)
            merged[name] = {**merged.get(name, {}), **fields}
        return {**values, "topics": merged}


class TopicMatcher:
    """Which guarded topic a text touches, if any: the words and patterns of the enabled topics."""

    def __init__(self, config: GuardConfig) -> None:
        self.enabled = config.enabled
        self._topics = [
            (name, [w.casefold() for w in topic.words if w], [re.compile(p) for p in topic.patterns])
            for name, topic in config.topics.items()
            if topic.enabled
        ]

    def topic(self, text: str) -> str | None:
        if not self.enabled:
            return None
        folded = text.casefold()
        for name, words, patterns in self._topics:
            if any(word in folded for word in words) or any(p.search(text) for p in patterns):
                return name
        return None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS held (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id TEXT NOT NULL, chat_name TEXT NOT NULL, topic TEXT NOT NULL,
    inbox_ids TEXT NOT NULL, context TEXT NOT NULL, draft TEXT, created_at REAL NOT NULL,
    outcome TEXT, sent TEXT, done_at REAL);
"""


@dataclass(frozen=True)
class Held:
    """An exchange waiting for the owner: the friend's turn (`context`'s last message) and the clone's draft."""

    id: int
    chat_id: str
    chat_name: str
    topic: str
    inbox_ids: list[int]
    context: list[dict[str, str]]
    draft: str | None

    @property
    def text(self) -> str:
        return self.context[-1]["content"]


class HeldStore:
    """The `held` table, over the bridge's one connection (the caller's transaction when one is open)."""

    def __init__(self, db: sqlite3.Connection, write) -> None:
        self._db = db
        self._write = write
        self._db.executescript(_SCHEMA)

    def hold(
        self,
        chat_id: str,
        chat_name: str,
        topic: str,
        inbox_ids: list[int],
        context: list[dict[str, str]],
        draft: str | None,
    ) -> int:
        return self._write(
            "INSERT INTO held(chat_id, chat_name, topic, inbox_ids, context, draft, created_at) VALUES (?,?,?,?,?,?,?)",
            (
                chat_id,
                chat_name,
                topic,
                json.dumps(inbox_ids),
                json.dumps(context, ensure_ascii=False),
                draft,
                time.time(),
            ),
        )

    def oldest_open(self) -> Held | None:
        """The one the owner's `/send`, `/say` or `/skip` answers: the oldest still waiting."""
        row = self._db.execute("SELECT * FROM held WHERE outcome IS NULL ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        return Held(
            row["id"],
            row["chat_id"],
            row["chat_name"],
            row["topic"],
            json.loads(row["inbox_ids"]),
            json.loads(row["context"]),
            row["draft"],
        )

    def open_chats(self) -> set[str]:
        """Contacts with an exchange waiting for the owner: their later messages wait behind it."""
        return {row[0] for row in self._db.execute("SELECT DISTINCT chat_id FROM held WHERE outcome IS NULL")}

    def close(self, held_id: int, outcome: str, sent: str | None) -> None:
        self._write("UPDATE held SET outcome=?, sent=?, done_at=? WHERE id=?", (outcome, sent, time.time(), held_id))


class GuardDesk:
    """Holding a guarded exchange for the owner, and their `/send`, `/say TEXT`, `/skip`."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.matcher = TopicMatcher(bridge.config.guard)
        self.held = HeldStore(bridge.feedback.connection, bridge.feedback.write)

    def hold(
        self,
        chat_id: str,
        chat_name: str,
        topic: str,
        inbox_ids: list[int],
        context: list[dict[str, str]],
        draft: str | None,
    ) -> None:
        """Nothing of the draft reaches the friend: the owner gets it, the friend at most the holding reply."""
        bridge = self.bridge
        with bridge.feedback.transaction():
            self.held.hold(chat_id, chat_name, topic, inbox_ids, context, draft)
            bridge.store.finish(inbox_ids, InboxStatus.HELD, [])
        holding = bridge.config.guard.holding_reply
        if holding:
            bridge._send(chat_id, holding, "owner")
        texts = bridge.texts
        name = texts.table.get(f"topic_{topic}", topic)
        bridge._review(
            texts(
                "guarded",
                name=chat_name,
                text=context[-1]["content"],
                topic=name,
                draft=draft if draft else texts("no_draft"),
            )
        )

    def command(self, text: str) -> bool:
        """`/send`, `/say TEXT`, `/skip` answer the oldest held exchange; False when `text` is none of them."""
        word, _, rest = text.partition(" ")
        if word not in ("/send", "/say", "/skip"):
            return False
        held = self.held.oldest_open()
        bridge = self.bridge
        if held is None:
            bridge._review(bridge.texts("guard_nothing"))
            return True
        out = {"/send": held.draft, "/say": rest.strip(), "/skip": None}[word]
        if word != "/skip" and not out:  # no draft (the API was down), or `/say` with nothing to say
            bridge._review(bridge.texts("no_draft"))
            return True
        if out:
            bridge._deliver(held.chat_id, out, "approved" if word == "/send" else "owner")
            self._record(held, out)
        turns = [(held.chat_id, "user", held.text, time.time())]
        turns += [(held.chat_id, "assistant", out, time.time())] if out else []
        with bridge.feedback.transaction():
            self.held.close(held.id, word.removeprefix("/"), out)
            bridge.store.finish(held.inbox_ids, InboxStatus.OWNER, turns)
        bridge._review(bridge.texts("guard_sent" if out else "guard_skipped", name=held.chat_name))
        return True

    def _record(self, held: Held, sent: str) -> None:
        """Into the feedback only as what the owner let out, labelled good by them; the draft never."""
        bridge = self.bridge
        base = bridge.api.base_model_of(bridge.config.model)
        exchange = bridge.feedback.record_exchange(
            held.chat_id, held.chat_name, bridge.config.model, base, held.context, reply=sent
        )
        bridge.feedback.record_label(exchange, True, "owner")
