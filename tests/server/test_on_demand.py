"""Clones on demand: start-up reads only the folders' JSON files, a clone is loaded on its first request (once,
however many ask at the same time), one added while the server runs answers, and with `--max-cpu-loras 2` the
engine lets the least recently used go and reads it back without changing a reply."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from bench.support import build_random_adapter
from tests.support.metrics import MetricsSnapshot
from tests.support.server_process import ServerProcess
from tests.support.tiers import slow_fixture

PROMPT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Tell me a short story about a cat."},
]
FANS = [f"fan{i:02d}" for i in range(40)]  # servable clones no test asks for: start-up must not load them
LOADS = "twin_adapter_loads_total"


def _linked_copy(source: Path, target: Path) -> None:
    """A clone folder sharing its files with `source` (hard links): many clones for the price of one."""
    target.mkdir(mode=0o700)
    for file in source.iterdir():
        if file.is_file():
            os.link(file, target / file.name)


@pytest.fixture(scope="module")
def clones_dir(tmp_path_factory: pytest.TempPathFactory, embedded_model: Path, adapters_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("clones")
    for name in ("alice", "bob"):
        shutil.copytree(adapters_dir / name, root / name)
    build_random_adapter(embedded_model, root / "carol", 3, "You are Carol.", "SmolLM2-135M-Instruct")
    for name in FANS:
        _linked_copy(root / "alice", root / name)
    return root


@pytest.fixture(scope="module")
@slow_fixture
def server(tmp_path_factory: pytest.TempPathFactory, embedded_model: Path, clones_dir: Path, engine_name: str):
    log = tmp_path_factory.mktemp("on-demand") / "server.log"
    process = ServerProcess(
        embedded_model, clones_dir, engine_name, log, extra_args=["--max-loras", "2", "--max-cpu-loras", "2"]
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=120)


def _reply(client: OpenAI, model: str) -> str:
    out = client.chat.completions.create(model=model, messages=PROMPT, max_tokens=16, temperature=0)
    return out.choices[0].message.content


def test_start_up_loads_no_clone_and_lists_every_one(server, client):
    listed = {model.id for model in client.models.list().data}
    assert {"alice", "bob", "carol", *FANS} <= listed
    metrics = MetricsSnapshot.scrape(server.root_url)
    assert [name for name in FANS if metrics.value(LOADS, adapter=name)] == []
    assert metrics.value("twin_adapters_servable") >= len(FANS) + 3
    assert metrics.value("twin_adapters_resident") <= 2


def test_a_clone_added_after_start_answers_on_first_request(server, client, clones_dir):
    shutil.copytree(clones_dir / "bob", clones_dir / "late")
    assert _reply(client, "late") == _reply(client, "bob")
    assert "late" in {model.id for model in client.models.list().data}


def test_concurrent_first_requests_load_the_clone_once(server, client, clones_dir):
    _linked_copy(clones_dir / "carol", clones_dir / "crowd")
    before = MetricsSnapshot.scrape(server.root_url)
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: _reply(client, "crowd"), range(8)))
    assert len(set(replies)) == 1, replies
    assert before.rise(MetricsSnapshot.scrape(server.root_url), LOADS, adapter="crowd") == 1
    assert "adapter crowd loaded on first use" in server.log_path.read_text()


def test_clones_used_in_turn_beyond_max_cpu_loras_keep_their_replies(server, client):
    """Three clones through room for two: each request lets the least recently used go, and the one read back
    answers as it did the first time."""
    clones = ["alice", "bob", "carol"]
    first = {name: _reply(client, name) for name in clones}
    assert len(set(first.values())) == 3, first
    for name in clones * 2:
        assert _reply(client, name) == first[name], f"{name} changed after it was evicted and read back"
    assert MetricsSnapshot.scrape(server.root_url).value("twin_adapters_resident") <= 2


def test_a_bad_folder_added_later_is_refused_by_name(server, client, clones_dir):
    notes = clones_dir / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("hello")
    torn = clones_dir / "torn"  # its JSON files are fine; its weights are not (found on first use)
    shutil.copytree(clones_dir / "alice", torn)
    (torn / "adapter_model.safetensors").write_bytes(b"not safetensors")
    for name, fragment in (("notes", "adapter_config.json"), ("torn", "adapter_model.safetensors")):
        with pytest.raises(openai.BadRequestError) as refused:
            _reply(client, name)
        message = refused.value.body["message"]
        assert f"'{name}'" in message and fragment in message, message
        assert str(clones_dir) not in message  # any key may read it: no server paths
        assert refused.value.body["code"] == "invalid_adapter"
    assert {"notes", "torn"}.isdisjoint(model.id for model in client.models.list().data)
    with pytest.raises(openai.NotFoundError) as missing:
        _reply(client, "nobody")
    assert "alice" in missing.value.body["message"]
