"""The memory block: retrieved exchanges and facts in one fixed format, appended to the system prompt.

One function renders it for serving, SFT (`--memory`) and evaluation alike, so the adapter is
trained on exactly the block the server sends. The wording is Chinese like the default persona
prompt; a friend's or the owner's burst (lines joined by "\\n" in the dataset) is shown on one line
joined by " / ", so every exchange stays two lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from wechat_twin.memory.store import Exchange

FACTS_HEADER = "你知道的事："
EXCHANGES_HEADER = "你以前和这位朋友的聊天（回复时可以参考）："
FRIEND_LABEL = "朋友"
OWNER_LABEL = "你"
SEPARATOR = "\n\n"

Message = dict[str, str]


def _one_line(text: str) -> str:
    return " / ".join(line.strip() for line in text.split("\n") if line.strip())


def memory_block(exchanges: Sequence[Exchange], facts: Sequence[str]) -> str | None:
    """The block, or None when there is nothing to say (then the prompt stays as it was)."""
    parts = []
    if facts:
        parts.append(FACTS_HEADER + "\n" + "\n".join(f"- {fact}" for fact in facts))
    if exchanges:
        lines = [EXCHANGES_HEADER]
        for e in sorted(exchanges, key=lambda e: e.time):
            lines += [f"[{e.time[:10]}] {FRIEND_LABEL}：{_one_line(e.friend)}", f"{OWNER_LABEL}：{_one_line(e.owner)}"]
        parts.append("\n".join(lines))
    return SEPARATOR.join(parts) or None


def with_memory(messages: list[Message], block: str | None) -> list[Message]:
    """The chat with the block after the system prompt (a system message is added if there is none)."""
    if block is None:
        return messages
    if messages and messages[0]["role"] == "system":
        first = messages[0]["content"]
        return [{"role": "system", "content": f"{first}{SEPARATOR}{block}" if first else block}, *messages[1:]]
    return [{"role": "system", "content": block}, *messages]


def latest_query(messages: Sequence[Message]) -> str:
    """What retrieval looks for: the friend's latest turn (the message being answered)."""
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
