"""`--served-name` renames the base model for clients; it must not make the server refuse the clones trained on it.

An adapter's twin.json names its base as training resolved it (the embedded name, a hub id, a folder). The
server compared that with the served name, so `--served-name jay-twin` refused every clone as trained on
another base. The app here is the real one with the fake engine (the check is about files, not tokens).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import uvicorn
from openai import OpenAI
from typer.testing import CliRunner

from tests.support.inprocess_server import serve_fake
from wechat_twin.server.cli import app as server_app
from wechat_twin.server.config import ServerSettings

SERVED = "jay-twin"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def _clones(root: Path, adapters_dir: Path, base_model: str) -> Path:
    """`alice` trained on `base_model`, and `stranger` trained on another base, which must stay refused."""
    for name, base in (("alice", base_model), ("stranger", "Qwen2.5-7B-Instruct")):
        shutil.copytree(adapters_dir / "alice", root / name)
        card = json.loads((root / name / "twin.json").read_text())
        (root / name / "twin.json").write_text(json.dumps({**card, "base_model": base}))
    return root


def _served(settings: ServerSettings) -> set[str]:
    with serve_fake(settings) as server:
        client = OpenAI(base_url=server.base_url, api_key="user-key", max_retries=0)
        return {m.id for m in client.models.list()}


@pytest.mark.parametrize("base_model", ["SmolLM2-135M-Instruct", HUB_ID])
def test_a_served_name_keeps_the_clones_of_a_local_base_folder(tmp_path, adapters_dir, embedded_model, base_model):
    settings = ServerSettings(
        model=str(embedded_model),
        served_name=SERVED,
        adapters_dir=_clones(tmp_path, adapters_dir, base_model),
        api_keys=["user-key"],
    )
    assert _served(settings) == {SERVED, "alice"}


def test_a_served_name_keeps_the_clones_of_a_hub_id_taken_from_the_cache(tmp_path, adapters_dir, embedded_model):
    """The CLI resolves `--model ORG/NAME` to a snapshot folder named by its commit; the clones name the id."""
    snapshot = tmp_path / "hub" / "snapshots" / ("1" * 40)
    shutil.copytree(embedded_model, snapshot)
    settings = ServerSettings(
        model=str(snapshot),
        served_name=SERVED,
        base_source=HUB_ID,
        adapters_dir=_clones(tmp_path / "adapters", adapters_dir, HUB_ID),
        api_keys=["user-key"],
    )
    assert _served(settings) == {SERVED, "alice"}


def test_the_command_tells_the_app_what_the_base_was_resolved_from(embedded_model, monkeypatch):
    """The settings `serve` builds its app from; the app itself is not started."""
    built: list[ServerSettings] = []

    def create_app(settings: ServerSettings) -> object:
        built.append(settings)
        state = SimpleNamespace(
            supervisor=SimpleNamespace(state=None), metrics=SimpleNamespace(refused_connection=print)
        )
        return SimpleNamespace(state=state)

    monkeypatch.setattr("wechat_twin.server.app.create_app", create_app)
    monkeypatch.setattr(uvicorn, "run", lambda application, **kwargs: None)
    done = CliRunner().invoke(server_app, ["serve", "--model", str(embedded_model), "--served-name", SERVED])
    assert done.exit_code == 0, done.output
    assert (built[0].served_name, built[0].base_source) == (SERVED, str(embedded_model.resolve()))
