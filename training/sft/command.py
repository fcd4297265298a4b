"""`twin-train sft DATA_DIR --out adapters/NAME`: its options are `SFTOptions`' fields (`wechat_twin.options`)."""

from __future__ import annotations

from wechat_twin import output
from wechat_twin.options import settings_command
from wechat_twin.training.sft.train import SFTOptions, run_sft


@settings_command
def sft_command(options: SFTOptions) -> None:
    """Fine-tune a LoRA adapter on the owner's replies (TRL SFT)."""
    folder = run_sft(options)
    from accelerate import PartialState  # the state run_sft set up: under `accelerate launch`, one line in all

    if PartialState().is_main_process:
        output.result(str(folder))  # the result alone on stdout: ADAPTER=$(twin-train sft ...)
