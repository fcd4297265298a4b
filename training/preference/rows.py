"""Feedback records to TRL rows, with the prompt rendered exactly as the server renders it.

The server puts the adapter's persona in front of the client's messages and applies the
base model's chat template (`wechat_twin.server.prompting`). Rendering the prompt here with the same
two functions, and handing TRL plain text, makes the trained prompt token-for-token the
served one: TRL's own chat formatting would not know the persona rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wechat_twin.server.prompting import ChatMessage, build_chat, render_chat_text
from wechat_twin.training.preference.feedback import LabeledReply, PreferencePair
from wechat_twin.training.preference.metrics import EvalSet


@dataclass(frozen=True)
class PromptStyle:
    """What the server adds to a client's messages: the parent's persona, and whether it replaces a client's own."""

    persona: str | None
    persona_override: bool = False

    def render(self, tokenizer: Any, messages: list[ChatMessage]) -> str:
        return render_chat_text(tokenizer, build_chat(messages, self.persona, self.persona_override))


def dpo_rows(pairs: Iterable[PreferencePair], tokenizer: Any, style: PromptStyle) -> list[dict[str, str]]:
    return [{"prompt": style.render(tokenizer, p.prompt), "chosen": p.chosen, "rejected": p.rejected} for p in pairs]


def kto_rows(labels: Iterable[LabeledReply], tokenizer: Any, style: PromptStyle) -> list[dict[str, Any]]:
    return [{"prompt": style.render(tokenizer, r.prompt), "completion": r.completion, "label": r.label} for r in labels]


def pairs_as_labels(pairs: Iterable[PreferencePair]) -> list[LabeledReply]:
    """A choice between two candidates is also one good and one bad reply, which KTO can learn from."""
    labels: list[LabeledReply] = []
    for pair in pairs:
        labels.append(LabeledReply(pair.prompt, pair.chosen, True, pair.adapter, pair.origin))
        labels.append(LabeledReply(pair.prompt, pair.rejected, False, pair.adapter, pair.origin))
    return labels


def eval_set(
    pairs: Iterable[PreferencePair], labels: Iterable[LabeledReply], tokenizer: Any, style: PromptStyle
) -> EvalSet:
    return EvalSet(
        pairs=[(style.render(tokenizer, p.prompt), p.chosen, p.rejected) for p in pairs],
        labels=[(style.render(tokenizer, r.prompt), r.completion, r.label) for r in labels],
    )
