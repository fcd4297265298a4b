"""Perplexity of the owner's real replies, counted on the owner's tokens only (as SFT trains)."""

from __future__ import annotations

import math
from typing import Any


def owner_perplexity(model: Any, tokenizer: Any, chat_template: str, samples: list[list[dict[str, str]]]) -> float:
    import torch

    total_loss, total_tokens = 0.0, 0
    for messages in samples:
        encoded = tokenizer.apply_chat_template(messages, chat_template=chat_template, tokenize=True,
                                                return_dict=True, return_assistant_tokens_mask=True)  # fmt: skip
        ids = torch.tensor([encoded["input_ids"]])
        mask = torch.tensor([encoded["assistant_masks"]], dtype=torch.bool)
        labels = ids.masked_fill(~mask, -100)
        counted = int(mask[:, 1:].sum())
        if counted == 0:
            continue
        with torch.inference_mode():
            loss = model(input_ids=ids, labels=labels).loss
        total_loss += float(loss) * counted
        total_tokens += counted
    return math.exp(total_loss / total_tokens) if total_tokens else float("nan")
