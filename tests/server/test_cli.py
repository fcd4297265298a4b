"""`twin-server serve` checks its options before uvicorn starts: a mistake is one `error:` line and exit 2."""

from __future__ import annotations

import pytest
import uvicorn
from typer.testing import CliRunner

from wechat_twin.server.cli import app


@pytest.fixture()
def never_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("uvicorn started despite a bad option")

    monkeypatch.setattr(uvicorn, "run", refuse)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--model", "/no/such/dir"], "/no/such/dir"),
        (["--model", "/tmp"], "config.json"),
        (["--host", "0.0.0.0"], "refusing to listen on 0.0.0.0"),
        (["--alias", "gpt-4"], "NAME=SERVED_MODEL"),
        (["--max-loras", "4", "--max-cpu-loras", "2"], "--max-cpu-loras 2 is below --max-loras 4"),
        (["--revision", "v2"], "--revision v2 is for a hub id"),
    ],
)
def test_a_bad_value_is_one_error_line_and_exit_2(never_serves, args, says):
    result = CliRunner().invoke(app, ["serve", *args], env={"TWIN_API_KEYS": "", "TWIN_ADMIN_KEYS": ""})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert says in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--engine", "foo"],
        ["--dtype", "int3"],
        ["--adapters", "/no/such/folder"],
        ["--port", "0"],
        ["--log-level", "loud"],
        ["--default-max-tokens", "0"],
        ["--distributed-executor-backend", "uni"],
        ["--pipeline-parallel-size", "0"],
        ["--hub", "github"],
    ],
)
def test_a_bad_choice_or_path_is_refused_while_parsing(never_serves, args):
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 2, result.output
    assert args[0] in result.output
    assert "Traceback" not in result.output


def test_the_options_reach_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path):
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kwargs: started.update(app=application, **kwargs))
    result = CliRunner().invoke(
        app,
        [
            "serve",
            "--engine",
            "transformers",
            "--dtype",
            "bfloat16",
            "--adapters",
            str(tmp_path),
            "--default-max-tokens",
            "64",
            "--no-trim-history",
        ],
    )
    assert result.exit_code == 0, result.output
    settings = started["app"].state.settings
    assert settings.engine.value == "transformers"
    assert settings.engine_options.dtype.value == "bfloat16"
    assert (settings.default_max_tokens, settings.trim_history) == (64, False)
