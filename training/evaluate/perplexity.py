"""Perplexity of the owner's real replies, counted on the owner's tokens only (as SFT trains).

Base and adapter are scored by one model, the adapter switched off for the base, so the two
numbers differ by the LoRA alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from wechat_twin.training.common.chat_template import training_chat_template
from wechat_twin.training.common.model_loading import load_tokenizer
from wechat_twin.training.common.samples import Messages


def owner_losses(model: Any, tokenizer: Any, chat_template: str, samples: list[Messages]) -> list[tuple[float, int]]:
    """Per sample: the summed loss over the owner's tokens and how many there are (for spreads over samples)."""
    import torch

    losses = []
    for messages in samples:
        encoded = tokenizer.apply_chat_template(
            messages, chat_template=chat_template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids = torch.tensor([encoded["input_ids"]], device=model.device)
        mask = torch.tensor([encoded["assistant_masks"]], dtype=torch.bool, device=model.device)
        counted = int(mask[:, 1:].sum())
        if counted == 0:
            losses.append((0.0, 0))
            continue
        with torch.inference_mode():
            loss = model(input_ids=ids, labels=ids.masked_fill(~mask, -100)).loss
        losses.append((float(loss) * counted, counted))
    return losses


def perplexity_of(losses: list[tuple[float, int]]) -> float:
    total_loss, total_tokens = sum(loss for loss, _ in losses), sum(n for _, n in losses)
    return math.exp(total_loss / total_tokens) if total_tokens else float("nan")


def owner_perplexity(model: Any, tokenizer: Any, chat_template: str, samples: list[Messages]) -> float:
    return perplexity_of(owner_losses(model, tokenizer, chat_template, samples))


def base_and_adapter_perplexity(
    base_path: Path, adapter: Path, samples: list[Messages], variants: dict[str, list[Messages]] | None = None
) -> tuple[dict[str, float], dict[str, list[tuple[float, int]]]]:
    """Base and adapter perplexity on `samples`, and the adapter's per-sample losses on each variant of them
    (the memory rows: the same samples with another system block), from one loaded model."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(base_path)
    template = training_chat_template(tokenizer)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32).to(device)
    model = PeftModel.from_pretrained(base, adapter).eval()
    with model.disable_adapter():
        without = owner_perplexity(model, tokenizer, template, samples)
    per_variant = {name: owner_losses(model, tokenizer, template, rows) for name, rows in (variants or {}).items()}
    return {"base": without, "adapter": owner_perplexity(model, tokenizer, template, samples)}, per_variant
