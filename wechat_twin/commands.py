"""The typer app every console script is built on: a user's mistake ends in one `error:` line, never a traceback.

Commands raise `wechat_twin.errors.TwinError` (or a subclass) and do not catch it themselves; the group
catches it once, around every command, in the console scripts and in `typer.testing.CliRunner` alike.
Mistakes on the command line itself (an unknown option, a choice that is not offered) are refused by
typer while parsing, before any command runs, with exit code 2.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from wechat_twin import output
from wechat_twin.errors import TwinError


class _ReportingGroup(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TwinError as exc:
            output.error(str(exc))
            raise typer.Exit(exc.exit_code) from exc


def command_app(help: str) -> typer.Typer:
    """A console script's app: commands registered on it report `TwinError`s as one line."""
    return typer.Typer(cls=_ReportingGroup, help=help, no_args_is_help=True, pretty_exceptions_enable=False)
