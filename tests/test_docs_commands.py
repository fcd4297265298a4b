"""Every `twin-train` / `twin-server` / `twin-bridge` command and `--option` the guides name exists in the CLI.

The guides (README.md, README.zh-CN.md, docs/*.md, docs/zh-CN/*.md) are read the way a reader copies from
them: each command line (in a code block or a `code span`) is checked against click's command tree, built
from the typer apps, so a renamed or removed option fails here instead of in a reader's terminal.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import typer

from wechat_twin.bridge.cli import app as bridge_app
from wechat_twin.server.cli import app as server_app
from wechat_twin.training.cli import app as train_app

ROOT = Path(__file__).parents[1]
APPS = {"twin-train": train_app, "twin-server": server_app, "twin-bridge": bridge_app}
GUIDES = sorted([ROOT / "README.md", ROOT / "README.zh-CN.md", *ROOT.glob("docs/*.md"), *ROOT.glob("docs/zh-CN/*.md")])
CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.S)
COMMAND = re.compile(r"\b(twin-(?:train|server|bridge))((?:[ \t]+(?:\\\n[ \t]*)?[^\s#|;&>)]+)*)")


def _options(command: click.Command) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)} | {"--help"}


def commands_named(text: str) -> list[tuple[str, str, list[str]]]:
    """(script, subcommand, options) for every command line in the code of a markdown text."""
    found = []
    for block, span in CODE.findall(text):
        for script, rest in COMMAND.findall(block or span):
            try:
                words = shlex.split(rest.replace("\\\n", " "))
            except ValueError:
                words = rest.split()
            subcommand = words[0] if words and re.fullmatch(r"[a-z][a-z-]*", words[0]) else ""
            options = [word.split("=", 1)[0] for word in words if word.startswith("--")]
            found.append((script, subcommand, options))
    return found


def problems_in(text: str) -> list[str]:
    problems = []
    for script, subcommand, options in commands_named(text):
        group = typer.main.get_command(APPS[script])
        if not subcommand:
            continue
        command = group.commands.get(subcommand)
        if command is None:
            problems.append(f"{script} {subcommand}: no such command")
            continue
        problems += [
            f"{script} {subcommand} {option}: no such option" for option in options if option not in _options(command)
        ]
    return problems


def test_the_check_catches_a_wrong_command_and_a_wrong_option():
    text = (
        "```bash\ntwin-train sft --epochs 2 --no-such-thing\ntwin-server nope\n```\nand `twin-bridge run --channel x`"
    )
    assert problems_in(text) == ["twin-train sft --no-such-thing: no such option", "twin-server nope: no such command"]


def test_the_chinese_guides_exist_and_are_linked_both_ways():
    english, chinese = (ROOT / "README.md").read_text(encoding="utf-8"), (ROOT / "README.zh-CN.md").read_text("utf-8")
    assert "README.zh-CN.md" in english.split("\n## ", 1)[0] and "README.md" in chinese.split("\n## ", 1)[0]
    for guide in ("data", "training", "bridge", "chat-page", "security"):
        assert (ROOT / "docs" / "zh-CN" / f"{guide}.md").is_file()
        assert f"docs/zh-CN/{guide}.md" in chinese


@pytest.mark.parametrize("guide", GUIDES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_command_and_option_a_guide_names_exists(guide):
    assert problems_in(guide.read_text(encoding="utf-8")) == []
