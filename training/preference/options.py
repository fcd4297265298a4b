"""Command-line options `twin-train dpo` and `twin-train kto` share beyond `PreferenceSettings`' fields, and how a
run's errors reach the user."""

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
OverwriteOpt = Annotated[bool, typer.Option(help="Replace the output folder if it exists")]


def run_command(method: PreferenceMethod, job: PreferenceJob) -> None:
    """Run and report; the errors a user can fix reach the command app as `TwinError`s."""
    print_report(run_preference(method, job))
