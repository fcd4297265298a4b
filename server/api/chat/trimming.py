"""Fit a long chat history into the context: drop the oldest turns, keep the persona and the latest user turn.

Clients trim history with their own token counts (chatgpt-on-wechat counts with tiktoken, another
tokenizer) and the bridge's memory grows, so in long chats the history outgrows the context and a
400 reaches the friend as a canned apology. Only the server knows the real token count, so it trims:
oldest non-system messages first, until the prompt leaves room for the reply budget.

The work is linear in the history, whatever a client sends: each message is tokenized once to learn
its cost, the oldest are dropped until the estimate fits, and the kept chat is rendered to check.
Re-rendering the whole history once per dropped message made 4,000 empty messages take 89 s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wechat_twin.server.prompting import ChatMessage

# Renders of the kept chat before giving up on the estimate: each one drops at least what the estimate says is
# still over, doubled every time, so a history of any length is settled in a handful of renders.
MAX_CHECKS = 32


@dataclass
class FittedPrompt:
    prompt_token_ids: list[int]
    dropped: int


def fit_history(
    messages: list[ChatMessage],
    render: Callable[[list[ChatMessage]], list[int]],
    prompt_limit: int,
    count: Callable[[Sequence[str]], list[int]],
    wrapper_tokens: Callable[[], int],
) -> FittedPrompt:
    """Drop the oldest messages before the latest user turn until `render(kept)` is at most `prompt_limit`.

    `count(texts)` gives each text's token count (one tokenizer call for all), `wrapper_tokens()` what the
    chat template adds around one message: two more renders, so asked only when something must go (most
    requests fit, and rendering is the preparation's main cost). System messages are never dropped. When
    nothing more can go, the shortest prompt is returned and the caller's context check answers 400.
    """
    prompt = render(messages)
    if len(prompt) <= prompt_limit:
        return FittedPrompt(prompt, 0)
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    droppable = [i for i, m in enumerate(messages[:last_user]) if m["role"] != "system"]
    wrapper = wrapper_tokens()
    costs = [n + wrapper for n in count([messages[i]["content"] for i in droppable])]

    def without(dropped: int) -> list[int]:
        gone = set(droppable[:dropped])
        return render([m for i, m in enumerate(messages) if i not in gone])

    # Drop what the estimate says is over, checked by a render; each further try drops twice as much.
    dropped = 0
    for attempt in range(MAX_CHECKS):
        over = (len(prompt) - prompt_limit) << attempt
        saved = 0
        while dropped < len(droppable) and (saved < over or saved == 0):
            saved += max(costs[dropped], 1)
            dropped += 1
        prompt = without(dropped)
        if len(prompt) <= prompt_limit or dropped == len(droppable):
            break
    if len(prompt) > prompt_limit:
        return FittedPrompt(prompt, dropped)
    # Keep the newest of the dropped back as far as they fit: a bisection over the few the estimate may have
    # dropped too many (twice the room left), each render no longer than the limit.
    spare, fewest = 2 * (prompt_limit - len(prompt)), dropped
    while fewest > 0 and costs[fewest - 1] <= spare:
        spare -= costs[fewest - 1]
        fewest -= 1
    while fewest < dropped:
        middle = (fewest + dropped) // 2
        candidate = without(middle)
        if len(candidate) <= prompt_limit:
            prompt, dropped = candidate, middle
        else:
            fewest = middle + 1
    return FittedPrompt(prompt, dropped)


def wrapper_tokens(render: Callable[[list[ChatMessage]], list[int]]) -> int:
    """What the chat template adds around one message, beyond its text: measured on two empty turns."""
    one = render([{"role": "user", "content": ""}])
    three = render(
        [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}, {"role": "user", "content": ""}]
    )
    return max((len(three) - len(one)) // 2, 0)
