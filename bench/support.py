"""What the benches share with the tests (which import it from here, so `bench/` needs nothing of `tests/`).

Random (non-zero) LoRA B matrices move the model as far as a trained adapter does,
in a second instead of minutes, which is all the serving benches and tests need.
"""

from __future__ import annotations

import socket
from pathlib import Path

from wechat_twin.server.adapters.card import TwinCard, write_card


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_random_adapter(base_path: Path, out_dir: Path, seed: int, system_prompt: str, base_name: str) -> Path:
    """A small LoRA adapter for the embedded base that visibly changes its outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    config = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], init_lora_weights=False
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.02)
    peft_model.save_pretrained(out_dir)
    write_card(out_dir, TwinCard(base_model=base_name, system_prompt=system_prompt, owner_name=out_dir.name))
    return out_dir
