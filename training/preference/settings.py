"""The knobs DPO and KTO share, with defaults meant for a few dozen to a few thousand feedback items on a LoRA."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wechat_twin.options import option


@dataclass(frozen=True)
class PreferenceSettings:
    """`twin-train dpo`/`kto`'s training options, declared once: both commands' options are generated from them."""

    beta: float = option(0.1, help="How far the new adapter may move from the parent (higher: less)")
    # LoRA moves less per step than full fine-tuning: TRL's 1e-6 default (meant for full weights) barely shifts it.
    learning_rate: float = option(2e-5, "--learning-rate", "--lr", help="Peak learning rate")
    epochs: float = option(3.0, help="Passes over the training feedback")
    max_steps: int = option(-1, help="Stop after this many optimizer steps (-1: run all epochs)")
    batch_size: int = option(4, min=1, help="Items per step (pairs for DPO, replies for KTO)")
    gradient_accumulation: int = option(1, "--grad-accum", help="Steps whose gradients are summed per update")
    max_length: int = option(1024, help="Tokens of prompt plus reply kept per item (the end is cut)")
    heldout_fraction: float = option(
        0.1, "--heldout", min=0.0, max=0.9, help="Fraction of the feedback held out to measure on"
    )
    min_feedback: int = option(10, min=1, help="Refuse to train on fewer items than this")
    seed: int = option(42, help="Random seed (held-out split, shuffling)")
    persona_override: bool = option(
        False,
        help="Format prompts as a server started with --persona-override does (persona replaces a client's)",
    )

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
