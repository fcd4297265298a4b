"""How a chat becomes the prompt tokens the model sees, shared by serving, evaluation and DPO/KTO.

Training formats samples with the base tokenizer's chat template and the adapter's
persona prompt; keeping the serving side of that in one function is what makes
"what is trained is what is served" true.
"""

from __future__ import annotations

from typing import Any

ChatMessage = dict[str, str]


def merge_consecutive_roles(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Repair non-alternating histories (chatgpt-on-wechat sends two `user` turns after a failure).

    Same-role neighbours are joined with `\\n`, the dataset's burst separator; empty
    system messages count as none.
    """
    merged: list[ChatMessage] = []
    for message in messages:
        role, content = message["role"], message["content"]
        if role == "system" and not content.strip():
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1] = {"role": role, "content": merged[-1]["content"] + "\n" + content}
        else:
            merged.append({"role": role, "content": content})
    return merged


def apply_persona(messages: list[ChatMessage], persona: str | None, replace_client_system: bool) -> list[ChatMessage]:
    """Put the adapter's persona in front when the client brought none (or always, if told to)."""
    if persona is None:
        return messages
    has_system = any(m["role"] == "system" for m in messages)
    if has_system and not replace_client_system:
        return messages
    rest = [m for m in messages if m["role"] != "system"]
    return [{"role": "system", "content": persona}, *rest]


def build_chat(
    messages: list[ChatMessage], persona: str | None = None, replace_client_system: bool = False
) -> list[ChatMessage]:
    return merge_consecutive_roles(apply_persona(merge_consecutive_roles(messages), persona, replace_client_system))


def render_chat_prompt(tokenizer: Any, messages: list[ChatMessage]) -> list[int]:
    """Token ids of the chat with the generation prompt appended, from the base model's template."""
    rendered = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    if isinstance(rendered, dict) or hasattr(rendered, "input_ids"):
        rendered = rendered["input_ids"]
    return list(rendered)


def render_chat_text(tokenizer: Any, messages: list[ChatMessage]) -> str:
    """The same prompt as text: TRL's DPO/KTO datasets take prompts as strings."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
