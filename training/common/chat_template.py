"""A training copy of the base chat template that marks the owner's turns for the loss.

TRL masks the loss to assistant turns through `{% generation %}` markers, which most
base templates (SmolLM2's ChatML among them) lack. TRL patches the templates it knows;
for ChatML-style ones we wrap the per-message expression ourselves, and in every case
we check that the training template renders byte-identically to the base template, since
the server renders prompts with the base template and a mismatch would train one format
and serve another.
"""

from __future__ import annotations

import re
from typing import Any

from wechat_twin.errors import TwinError

_CHATML_MESSAGE = re.compile(r"\{\{\s*'<\|im_start\|>'\s*\+\s*message\['role'\]\s*\+.*?\}\}", re.DOTALL)

_PROBES: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello\nthere [旺柴]"}],
    [
        {"role": "system", "content": "You are Jay."},
        {"role": "user", "content": "dinner?"},
        {"role": "assistant", "content": "ok~"},
        {"role": "user", "content": "7pm"},
        {"role": "assistant", "content": "好的"},
    ],
]


class ChatTemplateError(TwinError):
    """The base template cannot be marked for assistant-only loss; the message says what to do."""


def _patched_chatml(template: str) -> str | None:
    match = _CHATML_MESSAGE.search(template)
    if match is None:
        return None
    original = match.group(0)
    content = original.replace("'<|im_start|>' + message['role'] + '\n' + ", "", 1)
    if content == original:
        content = re.sub(r"'<\|im_start\|>'\s*\+\s*message\['role'\]\s*\+\s*'\\n'\s*\+\s*", "", original, count=1)
    if content == original:
        return None
    wrapped = (
        "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
        "{% generation %}" + content + "{% endgeneration %}{% else %}" + original + "{% endif %}"
    )
    return template.replace(original, wrapped, 1)


def _renders_like(tokenizer: Any, base: str, candidate: str) -> bool:
    for probe in _PROBES:
        for prompt in (False, True):
            messages = probe[:-1] if prompt else probe
            kwargs = {"tokenize": False, "add_generation_prompt": prompt}
            if tokenizer.apply_chat_template(messages, chat_template=base, **kwargs) != tokenizer.apply_chat_template(
                messages, chat_template=candidate, **kwargs
            ):
                return False
    return True


def training_chat_template(tokenizer: Any) -> str:
    """The template to train with: the base one if it already has markers, else a verified patched copy."""
    from trl.chat_template_utils import get_training_chat_template

    base = tokenizer.chat_template
    if not base:
        raise ChatTemplateError("the base tokenizer has no chat template: use an instruct/chat base model")
    if "generation %}" in base:
        return base
    try:
        candidate = get_training_chat_template(tokenizer)
    except ValueError:
        candidate = _patched_chatml(base)
    if candidate is None or not _renders_like(tokenizer, base, candidate):
        raise ChatTemplateError(
            "the base model's chat template could not be marked for assistant-only loss without changing how it "
            "renders; train with --no-assistant-only-loss or give a base with a ChatML-style template"
        )
    return candidate
