"""`twin-train data`: chat exports in, training dataset out; its options are `PipelineOptions`' fields."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated

import typer

from wechat_twin import output
from wechat_twin.options import settings_command
from wechat_twin.training.dataset.pipeline import PipelineOptions, run
from wechat_twin.training.dataset.report import summary


@settings_command
def data(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Export files or folders (auto-detected), or a running chatlog's URL (http://127.0.0.1:5030)",
            show_default=False,
        ),
    ],
    *,
    options: PipelineOptions,
    no_privacy: Annotated[bool, typer.Option("--no-privacy", help="Keep phone, ID, card numbers and e-mails")] = False,
) -> None:
    """Turn chat exports into train.jsonl / dev.jsonl (OpenAI messages) and report.json."""
    options = replace(options, privacy=not no_privacy, progress=sys.stderr.isatty())
    report = run(inputs, options)
    output.result(summary(report))
    written = "train.jsonl, dev.jsonl, report.json" + (", memory.sqlite" if options.memory else "")
    written += ", llamafactory/" if options.llamafactory else ""
    output.result(f"wrote {written} to {options.out}")
