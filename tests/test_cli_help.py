"""Every option of the three console scripts says what it does, and no flag reads `--no-no-...`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer

from wechat_twin.bridge.cli import app as bridge_app
from wechat_twin.server.cli import app as server_app
from wechat_twin.training.cli import app as train_app

APPS = {"twin-server": server_app, "twin-train": train_app, "twin-bridge": bridge_app}


def _commands(name: str, command: Any) -> Iterator[tuple[str, Any]]:
    yield name, command
    if hasattr(command, "list_commands"):  # a group (typer ships its own click, so no isinstance on click's)
        ctx = command.context_class(command)
        for sub_name in command.list_commands(ctx):
            yield from _commands(f"{name} {sub_name}", command.get_command(ctx, sub_name))


def _problems() -> list[str]:
    problems = []
    for script, app in APPS.items():
        for name, command in _commands(script, typer.main.get_command(app)):
            for param in command.params:
                if param.param_type_name != "option" or param.name == "help":
                    continue
                flags = [*param.opts, *param.secondary_opts]
                if not (param.help or "").strip():
                    problems.append(f"{name} {flags[0]}: no help")
                problems += [f"{name} {flag}: a double negative" for flag in flags if flag.startswith("--no-no-")]
    return problems


def test_every_option_has_help_and_no_double_negative():
    assert _problems() == []


@pytest.mark.parametrize("script", sorted(APPS))
def test_the_walk_reaches_every_command(script):
    assert len(list(_commands(script, typer.main.get_command(APPS[script])))) > 1
