"""The adapter that preference training continues: its card, its base model, and the LoRA loaded trainable.

DPO and KTO here continue the parent's own LoRA rather than stacking a new one, so the
result is one ordinary adapter of the same shape that the server loads like any other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wechat_twin.errors import TwinError
from wechat_twin.server.adapters.card import TwinCard, read_card
from wechat_twin.server.basemodel import BaseModelError, HubOptions, resolve_base_model
from wechat_twin.training.common.model_loading import training_dtype


class ParentAdapterError(TwinError):
    """The message names the adapter folder and what is missing."""


@dataclass(frozen=True)
class ParentAdapter:
    name: str
    path: Path
    card: TwinCard
    base_path: Path


def read_parent(adapter_dir: Path, model: str | None, hub: HubOptions = HubOptions()) -> ParentAdapter:
    """Find the parent's base model: `--model` if given, else the card's `base_model`, else peft's own record."""
    folder = Path(adapter_dir).expanduser().resolve()
    config_path = folder / "adapter_config.json"
    if not config_path.is_file():
        raise ParentAdapterError(f"{folder}: no adapter_config.json, so it is not a peft adapter folder to continue")
    peft_base = json.loads(config_path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    card = read_card(folder) or TwinCard(base_model=model or peft_base or "", kind="sft")
    # --model as given; else the card's base at the revision it was trained on, then peft's own record
    candidates = [(model, hub)] if model else [(card.base_model, card.base_hub_options(hub)), (peft_base, hub)]
    problems: list[str] = []
    tried: set[str] = set()
    for candidate, options in candidates:
        if not candidate or candidate in tried:
            continue
        tried.add(candidate)
        try:
            return ParentAdapter(folder.name, folder, card, resolve_base_model(candidate, hub=options).path)
        except BaseModelError as exc:
            problems.append(str(exc))
    raise ParentAdapterError(
        f"{folder}: cannot find its base model ({'; '.join(problems) or 'twin.json names none'}); "
        "pass --model with the base model's folder or hub id"
    )


def load_trainable(parent: ParentAdapter) -> tuple[Any, Any]:
    """(PeftModel with the parent's LoRA trainable under the name "default", tokenizer of the base)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(parent.base_path)
    base = AutoModelForCausalLM.from_pretrained(parent.base_path, dtype=training_dtype())
    model = PeftModel.from_pretrained(base, parent.path, is_trainable=True)
    return model, tokenizer
