"""An Ollama `Modelfile` beside a merged clone: its persona as `SYSTEM`, its chat format, its stop tokens.

Ollama imports a safetensors folder (`FROM .`) but writes prompts with its own Go templates, so the chat
format is spelled out here. ChatML (`<|im_start|>`, SmolLM2 and Qwen) is the format this project's bases
use and the one written; for other templates the Modelfile leaves `TEMPLATE` out and Ollama falls back to
its own detection from the folder's tokenizer files.
"""

from __future__ import annotations

import json
from typing import Any

MODELFILE = "Modelfile"
_CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
)
_CHATML_STOPS = ("<|im_end|>", "<|im_start|>")


def _quoted(text: str) -> str:
    """A Modelfile triple-quoted value; the one sequence it cannot hold is its own delimiter."""
    if '"""' in text:
        raise ValueError('the persona contains """, which a Modelfile cannot quote; edit twin.json\'s system_prompt')
    return f'"""{text}"""'


def is_chatml(template: str) -> bool:
    return "<|im_start|>" in template and "<|im_end|>" in template


def stop_tokens(tokenizer: Any, eos_token_ids: list[int], chatml: bool) -> list[str]:
    stops = list(_CHATML_STOPS) if chatml else []
    for token in tokenizer.convert_ids_to_tokens(eos_token_ids):
        if token and token not in stops:
            stops.append(token)
    return stops


def modelfile(persona: str | None, base_template: str, stops: list[str]) -> str:
    """The Modelfile text; `FROM .` is the folder the Modelfile sits in."""
    lines = ["FROM ."]
    if is_chatml(base_template):
        lines.append(f"TEMPLATE {_quoted(_CHATML_TEMPLATE)}")
    if persona:
        lines.append(f"SYSTEM {_quoted(persona)}")
    lines += [f"PARAMETER stop {json.dumps(token, ensure_ascii=False)}" for token in stops]
    return "\n".join(lines) + "\n"
