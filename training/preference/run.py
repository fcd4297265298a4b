"""One preference-training run, DPO or KTO alike: feedback in, a new adapter folder out.

The method-specific parts (which feedback it can use, the minimum it needs, the TRL
trainer) come from `dpo.py`/`kto.py`; everything a user relies on being the same for
both (prompt rendering, the held-out split, the metrics, the folder and its card) is here.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from wechat_twin.errors import TwinError
from wechat_twin.memory.store import MEMORY_FILE
from wechat_twin.output import progress_console
from wechat_twin.private_files import copy_private
from wechat_twin.server.adapters.adapter_memory import memory_path
from wechat_twin.server.adapters.card import TwinCard
from wechat_twin.server.adapters.heldout import HELDOUT_FILE
from wechat_twin.server.basemodel import HubOptions
from wechat_twin.training.adapter_output import prepare_output_dir, save_adapter
from wechat_twin.training.dataset.window import WINDOW_FILE
from wechat_twin.training.preference.feedback import Feedback, LabeledReply, PreferencePair, load_feedback
from wechat_twin.training.preference.metrics import EvalSet, compare, score_set
from wechat_twin.training.preference.parent import ParentAdapter, load_trainable, read_parent, training_dtype
from wechat_twin.training.preference.rows import PromptStyle
from wechat_twin.training.preference.settings import PreferenceSettings
from wechat_twin.training.preference.split import split_heldout


class NotEnoughFeedback(TwinError):
    """Raised before any model is loaded; the message says what is missing and how to get it."""


@dataclass
class FeedbackSplit:
    train_pairs: list[PreferencePair]
    heldout_pairs: list[PreferencePair]
    train_labels: list[LabeledReply]
    heldout_labels: list[LabeledReply]


class PreferenceMethod(Protocol):
    kind: str

    def check(self, feedback: Feedback, settings: PreferenceSettings) -> None: ...

    def training_rows(self, split: FeedbackSplit, tokenizer: Any, style: PromptStyle) -> list[dict[str, Any]]: ...

    def eval_set(
        self, pairs: list[PreferencePair], labels: list[LabeledReply], tokenizer: Any, style: PromptStyle
    ) -> EvalSet: ...

    def trainer(self, model: Any, tokenizer: Any, dataset: Any, arguments: dict[str, Any]) -> Any: ...

    def card_args(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PreferenceJob:
    parent_dir: Path
    feedback: list[Path]
    out: Path | None = None
    model: str | None = None
    hub: HubOptions = field(default_factory=HubOptions)  # --revision and --hub, for a hub id
    feedback_adapters: list[str] = field(default_factory=list)
    overwrite: bool = False
    settings: PreferenceSettings = field(default_factory=PreferenceSettings)


def _select(feedback: Feedback, parent: ParentAdapter, wanted: list[str]) -> Feedback:
    adapters = set(wanted or [parent.name])
    selected = feedback.for_adapters(adapters)
    if not selected.pairs and not selected.labels and (feedback.pairs or feedback.labels):
        found = ", ".join(f"{name}: {count}" for name, count in feedback.adapter_counts().items())
        raise NotEnoughFeedback(
            f"the feedback has no records for adapter(s) {', '.join(sorted(adapters))} (it has {found}); "
            "name the adapters whose feedback to use with --feedback-adapter"
        )
    return selected


def _split(feedback: Feedback, settings: PreferenceSettings) -> FeedbackSplit:
    fraction, seed = settings.heldout_fraction, settings.seed
    train_pairs, heldout_pairs = split_heldout(feedback.pairs, fraction, seed)
    train_labels: list[LabeledReply] = []
    heldout_labels: list[LabeledReply] = []
    for label in (True, False):  # good and bad split alike, so held-out replies have both when there are enough
        train, heldout = split_heldout([r for r in feedback.labels if r.label == label], fraction, seed)
        train_labels.extend(train)
        heldout_labels.extend(heldout)
    return FeedbackSplit(train_pairs, heldout_pairs, train_labels, heldout_labels)


def _eval_rendered(
    method: PreferenceMethod, split: FeedbackSplit, tokenizer: Any, style: PromptStyle, max_length: int
) -> dict[str, EvalSet]:
    sets = {
        "train": method.eval_set(split.train_pairs, split.train_labels, tokenizer, style),
        "heldout": method.eval_set(split.heldout_pairs, split.heldout_labels, tokenizer, style),
    }
    sets = {name: items.fitting(tokenizer, max_length) for name, items in sets.items()}
    return {name: items for name, items in sets.items() if items}


def _feedback_counts(feedback: Feedback, split: FeedbackSplit, adapters: list[str]) -> dict[str, Any]:
    return {
        "sources": feedback.sources,
        "feedback_adapters": adapters,
        "pairs": len(feedback.pairs),
        "labels_good": sum(r.label for r in feedback.labels),
        "labels_bad": sum(not r.label for r in feedback.labels),
        "train_pairs": len(split.train_pairs),
        "heldout_pairs": len(split.heldout_pairs),
        "train_labels": len(split.train_labels),
        "heldout_labels": len(split.heldout_labels),
        "skipped": dict(feedback.skipped),
    }


def run_preference(method: PreferenceMethod, job: PreferenceJob) -> Path:
    """Train and save; returns the new adapter folder. What can be refused is refused before any model loads."""
    import torch
    from datasets import Dataset

    from wechat_twin.training.progress import show_loss_in_progress_bar  # transformers' trainer modules

    settings = job.settings
    parent = read_parent(job.parent_dir, job.model, job.hub)
    out = prepare_output_dir(job.out or parent.path.parent / f"{parent.name}-{method.kind}", job.overwrite)
    adapters = job.feedback_adapters or [parent.name]
    feedback = _select(load_feedback(job.feedback), parent, adapters)
    method.check(feedback, settings)
    split = _split(feedback, settings)

    progress_console().print(
        f"[bold]{method.kind.upper()}[/] from adapter [cyan]{parent.name}[/] (base {parent.base_path})"
    )
    model, tokenizer = load_trainable(parent)
    if torch.cuda.is_available():
        model.to("cuda")
    style = PromptStyle(parent.card.system_prompt, settings.persona_override)
    rows = method.training_rows(split, tokenizer, style)
    eval_sets = _eval_rendered(method, split, tokenizer, style, settings.max_length)
    before = {
        name: score_set(model, tokenizer, items, settings.max_length, f"scoring {name} (parent)")
        for name, items in eval_sets.items()
    }

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"twin-{method.kind}-") as scratch:
        arguments = settings.trainer_kwargs(Path(scratch), bf16=training_dtype() == torch.bfloat16)
        arguments["dataloader_pin_memory"] = torch.cuda.is_available()
        # Shuffled here because KTO reads its data in order (its KL term pairs neighbours within a batch).
        dataset = Dataset.from_list(rows).shuffle(seed=settings.seed)
        trainer = method.trainer(model, tokenizer, dataset, arguments)
        show_loss_in_progress_bar(trainer)  # the stock bar prints every log on stdout
        result = trainer.train()
    elapsed = time.monotonic() - started

    trained = trainer.model
    after = {
        name: score_set(trained, tokenizer, items, settings.max_length, f"scoring {name} (new)")
        for name, items in eval_sets.items()
    }
    metrics: dict[str, Any] = {
        name: compare(before[name], after[name], items, settings.beta) for name, items in eval_sets.items()
    }
    metrics["beta"] = settings.beta
    metrics["trainer"] = {
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "seconds": round(elapsed, 1),
        "training_rows": len(rows),
    }
    card = parent.card.model_copy(
        update={
            "kind": method.kind,
            "parent_adapter": parent.name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "data": _feedback_counts(feedback, split, adapters),
            "training_args": {**settings.as_card_args(), **method.card_args(), "parent_path": str(parent.path)},
            "metrics": metrics,
            "memory": None,  # the parent's memory is copied in under the default name (`_carry`)
        }
    )
    save_adapter(trained, out, TwinCard.model_validate(card.model_dump()), extra_files=partial(_carry, parent))
    return out


def _carry(parent: ParentAdapter, folder: Path) -> None:
    """What the parent serves and is judged with goes along: the child is the same clone, better chosen.

    Its memory (copied under the default name: the card's `memory` is cleared), the blind test's held-out
    moments (feedback never trains on the export's dev chats) and the window of sessions an update continues.
    """
    carried = {name: parent.path / name for name in (HELDOUT_FILE, WINDOW_FILE) if (parent.path / name).is_file()}
    memory = memory_path(parent.path, parent.card)
    if memory is not None:
        carried[MEMORY_FILE] = memory
    for name, source in carried.items():
        copy_private(source, folder / name)
