"""Cut a chat into sessions, sessions into turns, and turns into training windows.

A session ends where the chat falls silent for longer than the gap, so one sample never glues
Monday's question to Friday's answer. A turn is a burst of consecutive messages from one side,
joined by "\\n": the bridge splits replies on "\\n", so the burst style survives both ways. A sample
starts with the other person and ends with the owner: the owner's opening messages have nothing
to answer and trailing messages nothing to learn, so both are trimmed (and counted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from training.formats.message import Message

USER = "user"
ASSISTANT = "assistant"
UNKNOWN_SPEAKER = "(unknown)"


@dataclass(slots=True)
class Turn:
    role: str
    text: str
    messages: int
    tokens: int


@dataclass(slots=True)
class Window:
    """One sample's turns, with the totals the report needs."""

    turns: list[Turn]
    messages: int = 0
    tokens: int = 0

    def add(self, user: Turn, assistant: Turn) -> None:
        self.turns += (user, assistant)
        self.messages += user.messages + assistant.messages
        self.tokens += user.tokens + assistant.tokens


@dataclass(frozen=True)
class Limits:
    max_turns: int = 24
    max_tokens: int = 1024
    system_tokens: int = 0


def split_sessions(messages: list[Message], gap: float) -> list[list[Message]]:
    """`messages` sorted by time; a silence of exactly `gap` seconds still continues the session."""
    sessions: list[list[Message]] = []
    current: list[Message] = []
    last = None
    for message in messages:
        if last is not None and message.timestamp - last > gap:
            sessions.append(current)
            current = []
        current.append(message)
        last = message.timestamp
    if current:
        sessions.append(current)
    return sessions


def turns_of(session: list[Message], is_group: bool, count: Callable[[str], int]) -> list[Turn]:
    """Bursts of one side as turns; in groups each line from others carries its speaker's name."""
    turns: list[Turn] = []
    lines: list[str] = []
    side = None
    for message in session:
        is_me = message.is_me
        if is_me is not side:
            if lines:
                turns.append(_turn(side, lines, count))
            side, lines = is_me, []
        if is_group and not is_me:
            lines.append(f"{message.sender_name or message.sender_id or UNKNOWN_SPEAKER}: {message.text}")
        else:
            lines.append(message.text)
    if lines:
        turns.append(_turn(side, lines, count))
    return turns


def _turn(is_me: bool, lines: list[str], count: Callable[[str], int]) -> Turn:
    text = "\n".join(lines)
    return Turn(ASSISTANT if is_me else USER, text, len(lines), count(text))


def samples_of(turns: list[Turn], limits: Limits) -> tuple[list[Window], dict[str, int]]:
    """Windows of user/assistant pairs within the budget, and the messages left out, by reason."""
    dropped: dict[str, int] = {}
    if not any(t.role == ASSISTANT for t in turns):
        dropped["session_without_owner"] = sum(t.messages for t in turns)
        return [], dropped
    start = 0 if turns[0].role == USER else 1
    end = len(turns) if turns[-1].role == ASSISTANT else len(turns) - 1
    if start:
        dropped["owner_opening"] = turns[0].messages
    if end < len(turns):
        dropped["unanswered"] = turns[-1].messages
    budget = limits.max_tokens - limits.system_tokens
    windows: list[Window] = []
    window = Window([])
    for i in range(start, end, 2):
        user, assistant = turns[i], turns[i + 1]
        cost = user.tokens + assistant.tokens
        if cost > budget:
            dropped["over_token_budget"] = dropped.get("over_token_budget", 0) + user.messages + assistant.messages
            continue
        if window.turns and (window.tokens + cost > budget or len(window.turns) + 2 > limits.max_turns):
            windows.append(window)
            window = Window([])
        window.add(user, assistant)
    if window.turns:
        windows.append(window)
    return windows, dropped
