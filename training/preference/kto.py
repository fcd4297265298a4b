"""KTO: learn from good/bad labels on single replies (TRL's KTOTrainer), and from choices as one of each.

Thumbs on one reply are the cheapest feedback to give in WeChat, so they are usually
the most plentiful; KTO needs no pairs, only both kinds of label. As with DPO, the
parent's LoRA is trained in place and TRL's frozen "ref" copy of it is the reference.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

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
from wechat_twin.training.preference.rows import PromptStyle, eval_set, kto_rows, pairs_as_labels
from wechat_twin.training.preference.run import FeedbackSplit, NotEnoughFeedback, PreferenceJob
from wechat_twin.training.preference.settings import PreferenceSettings


def balanced_weights(good: int, bad: int) -> tuple[float, float]:
    """(desirable, undesirable) weights that make both sides count alike, as the KTO paper recommends."""
    if good > bad:
        return bad / good, 1.0
    if bad > good:
        return 1.0, good / bad
    return 1.0, 1.0


class KtoMethod:
    kind = "kto"

    def __init__(
        self, use_pairs: bool = True, desirable_weight: float | None = None, undesirable_weight: float | None = None
    ) -> None:
        self.use_pairs = use_pairs
        self.desirable_weight = desirable_weight
        self.undesirable_weight = undesirable_weight

    def _labels(self, pairs: list[PreferencePair], labels: list[LabeledReply]) -> list[LabeledReply]:
        return [*labels, *(pairs_as_labels(pairs) if self.use_pairs else [])]

    def check(self, feedback: Feedback, settings: PreferenceSettings) -> None:
        labels = self._labels(feedback.pairs, feedback.labels)
        good = sum(r.label for r in labels)
        bad = len(labels) - good
        source = "labels and choices" if self.use_pairs else "labels"
        if good and bad and len(labels) >= settings.min_feedback:
            if settings.batch_size < 2:
                raise NotEnoughFeedback("KTO needs --batch-size of at least 2: it estimates its KL term within a batch")
            return
        missing = []
        if not good:
            missing.append("no good reply")
        if not bad:
            missing.append("no bad reply")
        if len(labels) < settings.min_feedback:
            missing.append(f"{len(labels)} labelled replies where at least {settings.min_feedback} are needed")
        raise NotEnoughFeedback(
            f"KTO needs both good and bad labels; the feedback's {source} give {good} good and {bad} bad "
            f"({', '.join(missing)}). Label more replies in the bridge, or lower --min-feedback."
        )

    def training_rows(self, split: FeedbackSplit, tokenizer: Any, style: PromptStyle) -> list[dict[str, Any]]:
        return kto_rows(self._labels(split.train_pairs, split.train_labels), tokenizer, style)

    def eval_set(
        self, pairs: list[PreferencePair], labels: list[LabeledReply], tokenizer: Any, style: PromptStyle
    ) -> EvalSet:
        return eval_set(pairs if self.use_pairs else [], labels, tokenizer, style)

    def card_args(self) -> dict[str, Any]:
        return {
            "use_pairs": self.use_pairs,
            "desirable_weight": self.desirable_weight,
            "undesirable_weight": self.undesirable_weight,
        }

    def trainer(self, model: Any, tokenizer: Any, dataset: Any, arguments: dict[str, Any]) -> Any:
        from trl import KTOConfig, KTOTrainer

        good = sum(dataset["label"])
        desirable, undesirable = balanced_weights(good, len(dataset) - good)
        if self.desirable_weight is None:
            self.desirable_weight = desirable
        if self.undesirable_weight is None:
            self.undesirable_weight = undesirable
        config = KTOConfig(
            **arguments, desirable_weight=self.desirable_weight, undesirable_weight=self.undesirable_weight
        )
        return KTOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)


@settings_command
def kto_command(
    adapter: ParentArg,
    feedback: FeedbackOpt,
    out: OutOpt = None,
    model: ModelOpt = None,
    revision: RevisionOpt = None,
    hub: HubOpt = None,
    feedback_adapter: FeedbackAdapterOpt = None,
    use_pairs: Annotated[
        bool, typer.Option(help="Also learn from choices (the chosen reply as good, the other as bad)")
    ] = True,
    desirable_weight: Annotated[
        float | None, typer.Option(help="Weight of good replies [default: balances good against bad]")
    ] = None,
    undesirable_weight: Annotated[
        float | None, typer.Option(help="Weight of bad replies [default: balances good against bad]")
    ] = None,
    *,
    settings: PreferenceSettings,
    overwrite: OverwriteOpt = False,
) -> None:
    """Train a new adapter from good/bad labels on the twin's replies (KTO), continuing ADAPTER."""
    job = PreferenceJob(
        adapter, feedback, out, model, HubOptions(revision, hub), feedback_adapter or [], overwrite, settings
    )
    run_command(KtoMethod(use_pairs, desirable_weight, undesirable_weight), job)
