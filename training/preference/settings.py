"""The knobs DPO and KTO share, with defaults meant for a few dozen to a few thousand feedback items on a LoRA."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PreferenceSettings:
    beta: float = 0.1
    # LoRA moves less per step than full fine-tuning: TRL's 1e-6 default (meant for full weights) barely shifts it.
    learning_rate: float = 2e-5
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 4
    gradient_accumulation: int = 1
    max_length: int = 1024
    heldout_fraction: float = 0.1
    min_feedback: int = 10
    seed: int = 42
    persona_override: bool = False

    def as_card_args(self) -> dict[str, Any]:
        return asdict(self)

    def trainer_kwargs(self, output_dir: Path, bf16: bool) -> dict[str, Any]:
        """Arguments DPOConfig and KTOConfig take alike; checkpoints are off because the result is saved once, whole."""
        return {
            "output_dir": str(output_dir),
            "beta": self.beta,
            "learning_rate": self.learning_rate,
            "num_train_epochs": self.epochs,
            "max_steps": self.max_steps,
            "per_device_train_batch_size": self.batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation,
            "max_length": self.max_length,
            "seed": self.seed,
            "bf16": bf16,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": "none",
        }
