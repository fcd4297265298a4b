"""A training progress bar that carries the current train and dev loss, for any transformers/TRL trainer.

The stock bar prints every log as a raw dict on its own line; a user watching a run wants
one bar with the loss beside it and one short line per dev evaluation.
"""

from __future__ import annotations

import sys
from typing import Any

from transformers.trainer_callback import ProgressCallback


class LossProgressCallback(ProgressCallback):
    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        if "loss" in logs:
            self.training_bar.set_postfix(loss=f"{logs['loss']:.3f}", refresh=False)
        if "eval_loss" in logs:
            # progress, so stderr (tqdm writes to stdout unless told): stdout holds the command's result alone
            self.training_bar.write(f"step {state.global_step}: dev loss {logs['eval_loss']:.4f}", file=sys.stderr)


def show_loss_in_progress_bar(trainer: Any) -> None:
    """Swap the trainer's stock bar for ours (a no-op when the bar is disabled)."""
    if trainer.args.disable_tqdm:
        return
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(LossProgressCallback)
