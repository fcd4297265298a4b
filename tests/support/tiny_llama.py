"""A Llama with random weights and the embedded model's tokenizer, saved as a local model folder.

Tests that need a model of a given shape (heads a tensor-parallel split can divide, a loss small enough to
compute twice) but not what it says make one in a second instead of loading the real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_tiny_llama(folder: Path, tokenizer_from: Path, **shape: Any) -> Path:
    """Seeded, so every run has the same weights; `shape` is LlamaConfig's (hidden size, heads, layers...)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    config = LlamaConfig(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **shape
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
