"""`--model ORG/NAME`: a hub id resolves through huggingface_hub's cache, offline, and is served under its id.

The cache is built the way `hf download` lays it out (`HF_HOME/hub/models--ORG--NAME/refs/REF` naming a
commit, `snapshots/COMMIT/` holding the files), from the embedded model's files. huggingface_hub reads
`HF_HOME`, `HF_HUB_OFFLINE` and `HF_ENDPOINT` when it is imported, so each case runs in a fresh process
with its own environment, as a user's shell gives it. Nothing is downloaded: the processes run offline,
or against an endpoint on a closed local port.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from bench.support import free_port
from tests.support.inprocess_server import serve_fake
from tests.support.server_process import ServerProcess
from tests.support.tiers import slow_fixture
from wechat_twin.server.basemodel.hub import is_hub_id
from wechat_twin.server.config import ServerSettings

HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the embedded model's own id: its adapters fit it
REPO = "models--HuggingFaceTB--SmolLM2-135M-Instruct"
MAIN, TAGGED = "1" * 40, "2" * 40  # commit hashes: what refs/main and refs/v2 point at


def _snapshot(home: Path, commit: str, files: Path) -> Path:
    folder = home / "hub" / REPO / "snapshots" / commit
    folder.mkdir(parents=True)
    for source in files.iterdir():
        (folder / source.name).symlink_to(source)  # the real cache links snapshots to blobs the same way
    return folder


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory, embedded_model: Path) -> Path:
    home = tmp_path_factory.mktemp("hf-home")
    _snapshot(home, MAIN, embedded_model)
    _snapshot(home, TAGGED, embedded_model)
    refs = home / "hub" / REPO / "refs"
    refs.mkdir()
    (refs / "main").write_text(MAIN)
    (refs / "v2").write_text(TAGGED)
    return home


def _env(hf_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_OFFLINE", "USE_MODELSCOPE"))}
    return {**env, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", **extra}


def _resolve(hf_home: Path, *args: str, **env: str) -> dict:
    """`resolve_base_model(*args)` in a fresh process with that environment."""
    code = (
        "import json, sys; from wechat_twin.server.basemodel import HubOptions, resolve_base_model\n"
        "model, revision = sys.argv[1], sys.argv[2] or None\n"
        "r = resolve_base_model(model, hub=HubOptions(revision))\n"
        "print(json.dumps({'served_name': r.served_name, 'path': str(r.path), 'source': r.source}))"
    )
    model, revision = (*args, "")[:2]
    done = subprocess.run(
        [sys.executable, "-c", code, model, revision],
        env=_env(hf_home, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _error_line(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    return done.returncode, lines[0]


def _serve(*args: str) -> list[str]:
    return [sys.executable, "-m", "wechat_twin.server", "serve", "--engine", "transformers", *args]


def test_a_cached_hub_id_resolves_offline_to_its_snapshot(hf_home):
    cache = hf_home / "hub" / REPO / "snapshots"
    assert _resolve(hf_home, HUB_ID) == {"served_name": HUB_ID, "path": str(cache / MAIN), "source": HUB_ID}
    assert _resolve(hf_home, HUB_ID, "v2")["path"] == str(cache / TAGGED)  # a tag
    assert _resolve(hf_home, HUB_ID, TAGGED)["path"] == str(cache / TAGGED)  # a commit
    # HF_HUB_CACHE moves the hub cache without HF_HOME
    assert _resolve(hf_home, HUB_ID, HF_HOME="/nonexistent", HF_HUB_CACHE=str(hf_home / "hub"))["path"] == str(
        cache / MAIN
    )


def test_an_unreachable_endpoint_falls_back_to_the_cache(hf_home):
    closed = f"http://127.0.0.1:{free_port()}"  # HF_ENDPOINT is where a mirror goes; nothing listens here
    online = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": closed}
    assert _resolve(hf_home, HUB_ID, **online)["source"] == HUB_ID
    code, line = _error_line(_serve("--model", "acme/not-cached"), _env(hf_home, **online))
    assert code == 2 and "acme/not-cached" in line and closed in line and str(hf_home / "hub") in line


def test_an_id_neither_cached_nor_reachable_is_one_error_line(hf_home):
    code, line = _error_line(_serve("--model", "acme/not-cached"), _env(hf_home))
    assert code == 2
    assert "'acme/not-cached'" in line and str(hf_home / "hub") in line and "HF_HUB_OFFLINE" in line
    code, line = _error_line(_serve("--model", HUB_ID, "--revision", "v9"), _env(hf_home))
    assert code == 2 and f"'{HUB_ID}@v9'" in line and "--revision v9" in line


def test_the_training_commands_resolve_hub_ids_too(hf_home, adapters_dir):
    export = [str(Path(sys.executable).parent / "twin-train"), "export", str(adapters_dir / "alice")]
    code, line = _error_line([*export, "--out", str(hf_home / "merged"), "--model", "acme/gone"], _env(hf_home))
    assert code == 1 and "'acme/gone'" in line and str(hf_home / "hub") in line


@pytest.mark.slow  # merges the base into a new folder
def test_a_card_naming_a_hub_id_finds_its_base_in_the_cache(hf_home, adapters_dir, tmp_path):
    adapter = tmp_path / "alice"
    shutil.copytree(adapters_dir / "alice", adapter)
    card = json.loads((adapter / "twin.json").read_text())
    (adapter / "twin.json").write_text(json.dumps({**card, "base_model": HUB_ID}))
    export = [str(Path(sys.executable).parent / "twin-train"), "export", str(adapter), "--out", str(tmp_path / "m")]
    done = subprocess.run(export, env=_env(hf_home), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"merging alice into {HUB_ID}" in done.stderr and (tmp_path / "m" / "config.json").is_file()


@pytest.mark.slow  # trains one step
def test_twin_json_records_the_revision_trained_on(hf_home, tmp_path):
    texts = tmp_path / "posts.txt"
    texts.write_text("".join(f"post {i}: the river walk, then tea at the night market\n" for i in range(12)))
    adapter = tmp_path / "jay-cpt"
    train = [
        str(Path(sys.executable).parent / "twin-train"),
        "cpt",
        str(texts),
        "--out",
        str(adapter),
        "--model",
        HUB_ID,
        "--revision",
        "v2",
        "--max-steps",
        "1",
        "--block-length",
        "32",
        "--batch-size",
        "1",
        "--lora-r",
        "8",
        "--heldout",
        "0",
    ]
    done = subprocess.run(train, env=_env(hf_home), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    card = json.loads((adapter / "twin.json").read_text())
    assert (card["base_model"], card["base_revision"]) == (HUB_ID, "v2")
    assert done.stdout.startswith("Wrote CPT adapter jay-cpt"), done.stdout  # the result on stdout


def test_export_resolves_the_base_at_the_revision_twin_json_records(hf_home, adapters_dir, tmp_path):
    adapter = tmp_path / "alice"
    shutil.copytree(adapters_dir / "alice", adapter)
    card = json.loads((adapter / "twin.json").read_text())
    (adapter / "twin.json").write_text(json.dumps({**card, "base_model": HUB_ID, "base_revision": "v9"}))
    export = [str(Path(sys.executable).parent / "twin-train"), "export", str(adapter), "--out", str(tmp_path / "m")]
    code, line = _error_line(export, _env(hf_home))  # v9 is in no cache: resolving the card's revision fails
    assert code == 1 and f"'{HUB_ID}@v9'" in line
    code, line = _error_line([*export, "--revision", "v8"], _env(hf_home))  # the command line's wins
    assert code == 1 and f"'{HUB_ID}@v8'" in line and "v9" not in line


def test_the_server_refuses_an_adapter_trained_at_another_revision(adapters_dir, embedded_model, tmp_path):
    folder = tmp_path / "adapters"
    for name, revision in (("same", "v2"), ("other", "v1"), ("unrecorded", None)):
        shutil.copytree(adapters_dir / "alice", folder / name)
        card = json.loads((folder / name / "twin.json").read_text())
        (folder / name / "twin.json").write_text(json.dumps({**card, "base_model": HUB_ID, "base_revision": revision}))
    settings = ServerSettings(
        model=str(embedded_model),
        served_name=HUB_ID,
        base_revision="v2",
        adapters_dir=folder,
        api_keys=["user-key"],
        admin_keys=["admin-key"],
    )
    with serve_fake(settings) as server:
        client = OpenAI(base_url=server.base_url, api_key="user-key", max_retries=0)
        assert {m.id for m in client.models.list()} == {HUB_ID, "same", "unrecorded"}
        response = httpx.post(
            f"{server.base_url}/load_lora_adapter",
            json={"lora_name": "other"},
            headers={"Authorization": "Bearer admin-key"},
        )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert f"trained on {HUB_ID} at revision 'v1'" in message and "--revision 'v2'" in message


@pytest.mark.skipif(importlib.util.find_spec("modelscope") is not None, reason="modelscope is installed here")
@pytest.mark.parametrize("how", [["--hub", "modelscope"], []])
def test_modelscope_without_its_package_says_how_to_get_it(hf_home, how):
    env = _env(hf_home, USE_MODELSCOPE_HUB="1") if not how else _env(hf_home)
    code, line = _error_line(_serve("--model", "Qwen/Qwen2.5-7B-Instruct", *how), env)
    assert code == 2 and "'Qwen/Qwen2.5-7B-Instruct'" in line and "pip install modelscope" in line


@pytest.mark.parametrize(
    ("model", "is_id"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", True),
        ("acme/smol.v2_b", True),
        ("./models/qwen", False),
        ("/srv/models/qwen", False),
        ("~/models", False),
        ("a/b/c", False),
        ("gpt2", False),
        ("acme/x--y", False),
    ],
)
def test_what_counts_as_a_hub_id(model, is_id):
    assert is_hub_id(model) is is_id


class _HubServer(ServerProcess):
    """The shared server's command without --served-name: the served name is the default one."""

    def command(self) -> list[str]:
        command = super().command()
        at = command.index("--served-name")
        return command[:at] + command[at + 2 :]


@pytest.fixture(scope="module")
@slow_fixture
def hub_server(tmp_path_factory, hf_home, adapters_dir):
    log = tmp_path_factory.mktemp("hub-server") / "server.log"
    server = _HubServer(Path(HUB_ID), adapters_dir, "transformers", log, base_name=HUB_ID)
    server.start(env=_env(hf_home))
    yield server
    server.stop()


def test_a_server_started_with_a_hub_id_serves_it_under_that_id(hub_server):
    client = OpenAI(base_url=hub_server.base_url, api_key=hub_server.api_key, max_retries=0, timeout=120)
    assert HUB_ID in [m.id for m in client.models.list()]
    assert client.models.retrieve(HUB_ID).id == HUB_ID
    reply = client.chat.completions.create(
        model=HUB_ID, messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0
    )
    assert reply.model == HUB_ID and reply.choices[0].message.content
    # the adapters' twin.json names the embedded SmolLM2-135M-Instruct: the same model as this id
    assert {"alice", "bob"} <= {m.id for m in client.models.list()}
