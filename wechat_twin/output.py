"""One output convention for all three commands: results on stdout, progress and messages on stderr.

What a command produced goes to stdout: the paths it wrote, a report, the list that was asked for, the
command to run next. So `ADAPTER=$(twin-train sft ...)` or `twin-bridge log > sent.txt` captures that
alone. What a command is doing or has to say goes to stderr: progress, notes, warnings, and the one
`error:` line of a mistake (`wechat_twin.commands`). vLLM, TRL (transformers' logging and tqdm) and git
do the same, and so do our own libraries: logging and tqdm write to stderr by default.

Standard library and typer only at import time; rich (for tables and colour) is imported when used.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import typer

from wechat_twin.errors import readable

if TYPE_CHECKING:
    from rich.console import Console


def result(text: str) -> None:
    """A result: stdout."""
    typer.echo(text)


def say(text: str) -> None:
    """Progress or a message for the person at the terminal: stderr."""
    typer.echo(text, err=True)


def note(text: str) -> None:
    typer.echo(f"note: {text}", err=True)


def warning(text: str) -> None:
    """A warning the user must read before going on, in yellow (its text may be in Chinese: no English prefix)."""
    typer.secho(text, fg="yellow", err=True)


def error(text: str) -> None:
    """The one line a mistake ends in; file names that are not UTF-8 shown as the Chinese they are."""
    typer.echo(f"error: {readable(text)}", err=True)


@functools.cache
def progress_console() -> Console:
    """Rich output on stderr: progress lines with markup."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


@functools.cache
def result_console() -> Console:
    """Rich output on stdout: a result that reads best as a table."""
    from rich.console import Console

    return Console(soft_wrap=True)
