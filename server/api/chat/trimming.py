"""Fit a long chat history into the context: drop the oldest turns, keep the persona and the latest user turn.

Clients trim history with their own token counts (chatgpt-on-wechat counts with tiktoken, another
tokenizer) and the bridge's memory grows, so in long chats the history outgrows the context and a
400 reaches the friend as a canned apology. Only the server knows the real token count, so it trims:
oldest non-system messages first, until the prompt leaves room for the reply budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wechat_twin.server.prompting import ChatMessage


@dataclass
class FittedPrompt:
    prompt_token_ids: list[int]
    dropped: int


def fit_history(
    messages: list[ChatMessage], render: Callable[[list[ChatMessage]], list[int]], prompt_limit: int
) -> FittedPrompt:
    """Drop the oldest messages before the latest user turn until `render(kept)` is at most `prompt_limit`.

    System messages are never dropped. When nothing more can go, the shortest prompt is returned
    and the caller's context check answers 400.
    """
    prompt = render(messages)
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    droppable = [i for i, m in enumerate(messages[:last_user]) if m["role"] != "system"]
    dropped: set[int] = set()
    for index in droppable:
        if len(prompt) <= prompt_limit:
            break
        dropped.add(index)
        prompt = render([m for i, m in enumerate(messages) if i not in dropped])
    return FittedPrompt(prompt, len(dropped))
