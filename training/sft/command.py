"""`twin-train sft DATA_DIR --out adapters/NAME`: its options are `SFTOptions`' fields (`wechat_twin.options`)."""

from __future__ import annotations

from wechat_twin import output
from wechat_twin.options import settings_command
from wechat_twin.training.sft.train import SFTOptions, run_sft


@settings_command
def sft_command(options: SFTOptions) -> None:
    """Fine-tune a LoRA adapter on the owner's replies (TRL SFT)."""
    output.result(str(run_sft(options)))
