"""Command-line options `twin-train dpo` and `twin-train kto` share, and how a run's errors reach the user."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wechat_twin.feedback import FEEDBACK_FILE
from wechat_twin.training.preference.report import print_report
from wechat_twin.training.preference.run import (
    PreferenceJob,
    PreferenceMethod,
    run_preference,
)
from wechat_twin.training.preference.settings import PreferenceSettings

DEFAULTS = PreferenceSettings()

ParentArg = Annotated[
    Path, typer.Argument(help="The adapter to improve (an SFT adapter folder with twin.json); it is left unchanged")
]
FeedbackOpt = Annotated[
    list[Path],
    typer.Option(
        "--feedback",
        "-f",
        help="preference.jsonl / unpaired.jsonl from `twin-bridge export-feedback`, their folder, or the bridge's "
        f"{FEEDBACK_FILE}; repeat to combine",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="New adapter folder; its name is the served name [default: <parent>-<method>]"),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(help="Base model folder or hub id ORG/NAME, when twin.json's base_model cannot be found here"),
]
FeedbackAdapterOpt = Annotated[
    list[str] | None,
    typer.Option(help="Use feedback given to this served adapter; repeatable [default: the parent's name]"),
]
BetaOpt = Annotated[float, typer.Option(help="How far the new adapter may move from the parent (higher: less)")]
LearningRateOpt = Annotated[float, typer.Option("--learning-rate", "--lr", help="Peak learning rate")]
EpochsOpt = Annotated[float, typer.Option(help="Passes over the training feedback")]
MaxStepsOpt = Annotated[int, typer.Option(help="Stop after this many optimizer steps (-1: run all epochs)")]
BatchSizeOpt = Annotated[int, typer.Option(min=1, help="Items per step (pairs for DPO, replies for KTO)")]
GradAccumOpt = Annotated[int, typer.Option("--grad-accum", help="Steps whose gradients are summed per update")]
MaxLengthOpt = Annotated[int, typer.Option(help="Tokens of prompt plus reply kept per item (the end is cut)")]
HeldoutOpt = Annotated[
    float, typer.Option("--heldout", min=0.0, max=0.9, help="Fraction of the feedback held out to measure on")
]
MinFeedbackOpt = Annotated[int, typer.Option(min=1, help="Refuse to train on fewer items than this")]
SeedOpt = Annotated[int, typer.Option(help="Random seed (held-out split, shuffling)")]
PersonaOverrideOpt = Annotated[
    bool,
    typer.Option(help="Format prompts as a server started with --persona-override does (persona replaces a client's)"),
]
OverwriteOpt = Annotated[bool, typer.Option(help="Replace the output folder if it exists")]


def settings_from_options(
    beta: float,
    learning_rate: float,
    epochs: float,
    max_steps: int,
    batch_size: int,
    grad_accum: int,
    max_length: int,
    heldout: float,
    min_feedback: int,
    seed: int,
    persona_override: bool,
) -> PreferenceSettings:
    return PreferenceSettings(
        beta=beta,
        learning_rate=learning_rate,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        gradient_accumulation=grad_accum,
        max_length=max_length,
        heldout_fraction=heldout,
        min_feedback=min_feedback,
        seed=seed,
        persona_override=persona_override,
    )


def run_command(method: PreferenceMethod, job: PreferenceJob) -> None:
    """Run and report; the errors a user can fix reach the command app as `TwinError`s."""
    print_report(run_preference(method, job))
