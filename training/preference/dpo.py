"""DPO: learn from the owner's choices between two candidate replies (TRL's DPOTrainer).

The parent's LoRA is passed to TRL as a trainable PeftModel and no reference model: TRL
then copies the adapter into a frozen "ref" adapter on the same base, so the reference
is the parent itself and the base weights are in memory once.
"""

from __future__ import annotations

from typing import Any

from wechat_twin.options import settings_command
from wechat_twin.server.basemodel import HubOptions
from wechat_twin.server.basemodel.options import HubOpt, RevisionOpt
from wechat_twin.training.preference.feedback import Feedback, LabeledReply, PreferencePair
from wechat_twin.training.preference.metrics import EvalSet
from wechat_twin.training.preference.options import (
    FeedbackAdapterOpt,
    FeedbackOpt,
    ModelOpt,
    OutOpt,
    OverwriteOpt,
    ParentArg,
    run_command,
)
from wechat_twin.training.preference.rows import PromptStyle, dpo_rows, eval_set
from wechat_twin.training.preference.run import FeedbackSplit, NotEnoughFeedback, PreferenceJob
from wechat_twin.training.preference.settings import PreferenceSettings


class DpoMethod:
    kind = "dpo"

    def check(self, feedback: Feedback, settings: PreferenceSettings) -> None:
        found = len(feedback.pairs)
        if found >= max(settings.min_feedback, 1):
            return
        hint = (
            f"; it does have {len(feedback.labels)} good/bad labels, which `twin-train kto` learns from"
            if feedback.labels
            else ""
        )
        raise NotEnoughFeedback(
            f"DPO needs at least {settings.min_feedback} preference pairs (the owner picking one of two candidate "
            f"replies in the bridge), the feedback has {found}{hint}. Collect more choices, or lower --min-feedback."
        )

    def training_rows(self, split: FeedbackSplit, tokenizer: Any, style: PromptStyle) -> list[dict[str, Any]]:
        return dpo_rows(split.train_pairs, tokenizer, style)

    def eval_set(
        self, pairs: list[PreferencePair], labels: list[LabeledReply], tokenizer: Any, style: PromptStyle
    ) -> EvalSet:
        return eval_set(pairs, [], tokenizer, style)

    def card_args(self) -> dict[str, Any]:
        return {}

    def trainer(self, model: Any, tokenizer: Any, dataset: Any, arguments: dict[str, Any]) -> Any:
        from trl import DPOConfig, DPOTrainer

        return DPOTrainer(model=model, args=DPOConfig(**arguments), train_dataset=dataset, processing_class=tokenizer)


@settings_command
def dpo_command(
    adapter: ParentArg,
    feedback: FeedbackOpt,
    out: OutOpt = None,
    model: ModelOpt = None,
    revision: RevisionOpt = None,
    hub: HubOpt = None,
    feedback_adapter: FeedbackAdapterOpt = None,
    *,
    settings: PreferenceSettings,
    overwrite: OverwriteOpt = False,
) -> None:
    """Train a new adapter from the owner's choices between two candidate replies (DPO), continuing ADAPTER."""
    job = PreferenceJob(
        adapter, feedback, out, model, HubOptions(revision, hub), feedback_adapter or [], overwrite, settings
    )
    run_command(DpoMethod(), job)
