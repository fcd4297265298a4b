"""LoRA settings that vLLM serves as they are: a rank it accepts, only decoder linear layers adapted.

peft's "all-linear" would also adapt MoE routers, which vLLM does not load, and any explicit
`lm_head`/embedding target makes an adapter vLLM refuses or serves without that part. Both
are settled here, before training, instead of at the server after hours of training.
"""

from __future__ import annotations

from typing import Any

from wechat_twin.errors import UsageError

# The ranks vLLM's `--max-lora-rank` takes (vllm/config/lora.py `MaxLoRARanks`); an adapter whose
# rank is among them fits a server started with that rank or a larger one.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
ALL_LINEAR = "all-linear"
_EMBEDDING_NAMES = {"lm_head", "embed_tokens", "wte", "wpe", "embed_out", "word_embeddings", "embeddings"}
_ROUTER_NAMES = {"gate", "router", "shared_expert_gate"}


class LoraSettingsError(UsageError):
    """The message names the option and the value the server would accept."""


def check_servable(rank: int, max_server_rank: int, target_modules: list[str]) -> None:
    if rank not in VLLM_LORA_RANKS:
        raise LoraSettingsError(f"--rank {rank}: vLLM serves LoRA ranks {', '.join(map(str, VLLM_LORA_RANKS))}")
    if rank > max_server_rank:
        raise LoraSettingsError(
            f"--rank {rank} is above the server's --max-lora-rank {max_server_rank}: train with --rank "
            f"{max_server_rank} or lower, or raise both --max-server-rank here and --max-lora-rank on the server"
        )
    refused = sorted(set(target_modules) & _EMBEDDING_NAMES)
    if refused:
        raise LoraSettingsError(
            f"--target-modules {', '.join(refused)}: embeddings and the output head are not adapted "
            "(vLLM serves LoRA on the decoder's linear layers)"
        )


def decoder_linear_modules(model: Any) -> list[str]:
    """Names (last component) of the linear layers a LoRA on this model should adapt: what "all-linear" means here."""
    import torch

    output = model.get_output_embeddings()
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not output
    }
    return sorted(names - _ROUTER_NAMES - _EMBEDDING_NAMES)


def build_lora_config(model: Any, rank: int, alpha: int, dropout: float, target_modules: list[str]) -> Any:
    from peft import LoraConfig

    targets = decoder_linear_modules(model) if target_modules in ([], [ALL_LINEAR]) else target_modules
    return LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type="CAUSAL_LM")
