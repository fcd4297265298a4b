"""`twin-train data`: chat exports in, training dataset out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from wechat_twin import output
from wechat_twin.training.dataset.pipeline import PipelineOptions, run
from wechat_twin.training.dataset.privacy import RedactMode
from wechat_twin.training.dataset.report import summary
from wechat_twin.training.formats.registry import FormatChoice

DEFAULTS = PipelineOptions(out=Path())


def data(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Export files or folders (auto-detected), or a running chatlog's URL (http://127.0.0.1:5030)",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for train.jsonl, dev.jsonl, report.json")],
    format: Annotated[FormatChoice, typer.Option("--format", help="Export format; auto detects it")] = FormatChoice(
        DEFAULTS.format
    ),
    me: Annotated[
        list[str] | None,
        typer.Option(
            "--me", help="The owner's display name or id where the export does not mark the owner (repeatable)"
        ),
    ] = None,
    system_prompt: Annotated[
        str | None, typer.Option(help="Persona prompt for every sample; '' for none. Default names the owner")
    ] = None,
    owner_name: Annotated[str | None, typer.Option(help="The owner's name for the default persona prompt")] = None,
    session_gap: Annotated[
        float, typer.Option(help="Seconds of silence that start a new session")
    ] = DEFAULTS.session_gap,
    include_groups: Annotated[
        bool, typer.Option(help="Also learn from group chats (excluded by default)")
    ] = DEFAULTS.include_groups,
    allow: Annotated[list[str] | None, typer.Option(help="Only these chats, by name or id (repeatable)")] = None,
    deny: Annotated[list[str] | None, typer.Option(help="Never these chats, by name or id (repeatable)")] = None,
    redact_words: Annotated[
        Path | None, typer.Option(help="File of words (or re:PATTERN lines) to redact", exists=True, dir_okay=False)
    ] = None,
    redact_mode: Annotated[
        RedactMode, typer.Option(help="redact: replace listed words; drop: drop their messages")
    ] = DEFAULTS.redact_mode,
    no_privacy: Annotated[bool, typer.Option("--no-privacy", help="Keep phone, ID, card numbers and e-mails")] = False,
    max_message_chars: Annotated[
        int, typer.Option(help="Drop longer messages (pasted articles)")
    ] = DEFAULTS.max_message_chars,
    dedupe_min_chars: Annotated[
        int, typer.Option(help="Drop repeats of texts at least this long (spam)")
    ] = DEFAULTS.dedupe_min_chars,
    max_turns: Annotated[int, typer.Option(help="Turns per sample; longer sessions are windowed")] = DEFAULTS.max_turns,
    max_tokens: Annotated[int, typer.Option(help="Tokens per sample, system prompt included")] = DEFAULTS.max_tokens,
    tokenizer: Annotated[
        str | None, typer.Option(help="Count tokens with this tokenizer (path or hub id); default: estimate")
    ] = None,
    dev_fraction: Annotated[
        float, typer.Option(help="Share of each chat's latest sessions held out")
    ] = DEFAULTS.dev_fraction,
    llamafactory: Annotated[bool, typer.Option(help="Also write LLaMA-Factory sharegpt files")] = DEFAULTS.llamafactory,
    timezone: Annotated[str, typer.Option(help="Zone of local times in the exports")] = DEFAULTS.timezone,
    memory: Annotated[
        bool, typer.Option("--memory/--no-memory", help="Also write memory.sqlite: past exchanges per contact")
    ] = DEFAULTS.memory,
    facts: Annotated[
        Path | None,
        typer.Option(
            help="Facts file for the memory: global lines, then [contact] sections", exists=True, dir_okay=False
        ),
    ] = None,
) -> None:
    """Turn chat exports into train.jsonl / dev.jsonl (OpenAI messages) and report.json."""
    options = PipelineOptions(
        out=out,
        format=format.value,
        me=tuple(me or ()),
        system_prompt=system_prompt,
        owner_name=owner_name,
        session_gap=session_gap,
        include_groups=include_groups,
        allow=tuple(allow or ()),
        deny=tuple(deny or ()),
        redact_words=redact_words,
        redact_mode=redact_mode,
        privacy=not no_privacy,
        max_message_chars=max_message_chars,
        dedupe_min_chars=dedupe_min_chars,
        max_turns=max_turns,
        max_tokens=max_tokens,
        dev_fraction=dev_fraction,
        llamafactory=llamafactory,
        timezone=timezone,
        tokenizer=tokenizer,
        memory=memory,
        facts=facts,
        progress=sys.stderr.isatty(),
    )
    report = run(inputs, options)
    output.result(summary(report))
    written = "train.jsonl, dev.jsonl, report.json" + (", memory.sqlite" if memory else "")
    written += ", llamafactory/" if llamafactory else ""
    output.result(f"wrote {written} to {out}")
