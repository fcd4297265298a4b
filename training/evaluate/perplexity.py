"""Perplexity of the owner's real replies, counted on the owner's tokens only (as SFT trains).

Base and adapter are scored by one model, the adapter switched off for the base, so the two
numbers differ by the LoRA alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from wechat_twin.training.sft.chat_template import training_chat_template
from wechat_twin.training.sft.model_loading import load_tokenizer
from wechat_twin.training.sft.samples import Messages


def owner_perplexity(model: Any, tokenizer: Any, chat_template: str, samples: list[Messages]) -> float:
    import torch

    total_loss, total_tokens = 0.0, 0
    for messages in samples:
        encoded = tokenizer.apply_chat_template(messages, chat_template=chat_template, tokenize=True,
                                                return_dict=True, return_assistant_tokens_mask=True)  # fmt: skip
        ids = torch.tensor([encoded["input_ids"]], device=model.device)
        mask = torch.tensor([encoded["assistant_masks"]], dtype=torch.bool, device=model.device)
        counted = int(mask[:, 1:].sum())
        if counted == 0:
            continue
        with torch.inference_mode():
            loss = model(input_ids=ids, labels=ids.masked_fill(~mask, -100)).loss
        total_loss += float(loss) * counted
        total_tokens += counted
    return math.exp(total_loss / total_tokens) if total_tokens else float("nan")


def base_and_adapter_perplexity(base_path: Path, adapter: Path, samples: list[Messages]) -> dict[str, float]:
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
    return {"base": without, "adapter": owner_perplexity(model, tokenizer, template, samples)}
