"""Where the transformers engine and training run: CUDA, then Apple's MPS, then the CPU.

The choice is a pure function of what was asked for and what the machine has (`Accelerators`), so it is
tested on any machine, MPS included, without the hardware; only `probe()` asks torch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wechat_twin.errors import UsageError


class Device(enum.Enum):
    AUTO = "auto"
    CUDA = "cuda"
    MPS = "mps"
    CPU = "cpu"


@dataclass(frozen=True)
class Accelerators:
    """What this machine offers torch."""

    cuda: bool = False
    cuda_bf16: bool = False
    mps: bool = False


def probe() -> Accelerators:
    import torch

    cuda = torch.cuda.is_available()
    mps_backend = getattr(torch.backends, "mps", None)
    return Accelerators(
        cuda=cuda,
        cuda_bf16=cuda and torch.cuda.is_bf16_supported(),
        mps=bool(mps_backend and mps_backend.is_available()),
    )


def pick_device(requested: Device, found: Accelerators) -> Device:
    """`auto` takes the fastest device present; an explicit device that is absent is the user's mistake."""
    if requested is Device.AUTO:
        if found.cuda:
            return Device.CUDA
        return Device.MPS if found.mps else Device.CPU
    if requested is Device.CUDA and not found.cuda:
        raise UsageError("--device cuda: torch sees no CUDA GPU on this machine")
    if requested is Device.MPS and not found.mps:
        raise UsageError("--device mps: torch has no Apple MPS backend here (it needs macOS on Apple silicon)")
    return requested


def serving_dtype(device: Device, found: Accelerators) -> str:
    """Half precision on accelerators (bf16 where CUDA has it); fp32 on the CPU, where halves are slow and inexact."""
    if device is Device.CUDA:
        return "bfloat16" if found.cuda_bf16 else "float16"
    if device is Device.MPS:
        return "float16"
    return "float32"


def training_dtype_name(device: Device, found: Accelerators) -> str:
    """bf16 on a CUDA GPU that has it, fp32 elsewhere: fp16 training needs loss scaling, and MPS's bf16 is partial."""
    return "bfloat16" if device is Device.CUDA and found.cuda_bf16 else "float32"
