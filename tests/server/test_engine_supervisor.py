"""An engine that dies is noticed at once, reported as 503 with Retry-After, and replaced in process.

Run against the fake engine (a death on demand); tests/server/test_engine_recovery.py kills a real
vLLM engine core from outside.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from tests.support.fake_engine import FakeEngine, Knobs
from tests.support.inprocess_server import serve_fake
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.engines.base import EngineOptions
from wechat_twin.server.engines.supervisor import EngineState, EngineSupervisor

HELLO = [{"role": "user", "content": "hello"}]


def _wait_ready(root_url: str, timeout_s: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while (health := httpx.get(f"{root_url}/health")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    return health


def test_a_dead_engine_answers_503_then_comes_back_with_its_adapters(embedded_model, adapters_dir):
    settings = ServerSettings(adapters_dir=adapters_dir, admin_keys=["admin"])
    with serve_fake(settings) as server:
        admin = {"Authorization": "Bearer admin"}
        loaded = httpx.post(
            f"{server.base_url}/load_lora_adapter", json={"lora_name": "carol", "lora_path": "alice"}, headers=admin
        )
        assert loaded.status_code == 200, loaded.text
        first = server.engine
        server.knobs.start_delay_s = 1.5
        first.dead = True

        health = httpx.get(f"{server.root_url}/health")
        assert health.status_code == 503
        assert health.json()["status"] == "restarting"
        assert httpx.get(f"{server.root_url}/health/live").status_code == 200
        refused = httpx.post(
            f"{server.base_url}/chat/completions", json={"model": "carol", "messages": HELLO}, headers=admin
        )
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "engine_unavailable"
        assert int(refused.headers["retry-after"]) > 0

        health = _wait_ready(server.root_url)
        assert health.status_code == 200, health.text
        assert health.json()["engine_restarts"] == 1
        assert server.engine is not first
        assert set(server.engine.loaded) == {"carol"}  # what the old engine had: alice and bob load on first use
        reply = httpx.post(
            f"{server.base_url}/chat/completions", json={"model": "carol", "messages": HELLO}, headers=admin
        )
        assert reply.status_code == 200, reply.text


def test_a_request_in_flight_when_the_engine_dies_gets_503(embedded_model, adapters_dir):
    knobs = Knobs(token_delay_s=0.3)
    with serve_fake(ServerSettings(adapters_dir=adapters_dir), knobs) as server:
        knobs.start_delay_s = 1.0

        def kill_soon() -> None:
            time.sleep(0.5)
            server.engine.dead = True

        threading.Thread(target=kill_soon).start()
        reply = httpx.post(
            f"{server.base_url}/chat/completions", json={"model": "alice", "messages": HELLO}, timeout=30
        )
        assert reply.status_code == 503, reply.text
        assert reply.headers["retry-after"]
        assert _wait_ready(server.root_url).status_code == 200


@pytest.mark.asyncio
async def test_when_no_engine_starts_again_the_server_is_told_to_stop(embedded_model):
    knobs = Knobs()
    stopped = asyncio.Event()
    built: list[FakeEngine] = []

    def make() -> FakeEngine:
        engine = FakeEngine(str(embedded_model), EngineOptions(), knobs)
        built.append(engine)
        return engine

    async def on_ready(_engine: FakeEngine) -> None:
        return None

    supervisor = EngineSupervisor(make, on_ready, restart_attempts=2, poll_interval_s=0.05, on_failed=stopped.set)
    await supervisor.start()
    knobs.fail_to_start = True
    built[0].dead = True
    await asyncio.wait_for(stopped.wait(), timeout=10)
    assert supervisor.state is EngineState.FAILED
    assert len(built) == 1
    await supervisor.shutdown()
