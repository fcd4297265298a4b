"""bench/serve.py: how rounds alternate and what is reported (no server), and one real round end to end."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "serve.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("serve_bench", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_servers_alternate_within_each_round_and_each_ratio_is_the_median_of_per_round_ratios(bench, capsys):
    # tokens/s per round, theirs and ours: the ratio within each round is 1.2, 0.8, 1.3 (median 1.2),
    # while the ratio of the medians (40/50) would say 0.8: a drifting machine cannot move the result.
    speeds = {(1, "vllm-server"): 10, (1, "wechat-twin"): 12, (2, "vllm-server"): 50, (2, "wechat-twin"): 40,
              (3, "vllm-server"): 100, (3, "wechat-twin"): 130}  # fmt: skip
    latency = {"vllm-server": [1.0, 2.0, 4.0], "wechat-twin": [1.0, 3.0, 4.0]}
    measured = []

    def measure_one(number: int, name: str, build) -> object:
        measured.append((number, name, build))
        return bench.LoadResult(name, 1.0, speeds[number, name], latency[name])

    rounds = bench.run_rounds(bench.LINEUPS["vllm"], 3, measure_one)
    assert [(number, name) for number, name, _ in measured] == list(speeds)
    assert all(build is dict(bench.LINEUPS["vllm"])[name] for _, name, build in measured)
    bench.report("vllm", rounds)
    out = capsys.readouterr().out
    assert re.findall(r"^round (\d)/3: (\S+)$", out, re.MULTILINE) == [(str(n), name) for n, name in speeds]
    assert "median over 3 rounds" in out
    assert re.search(r"^throughput ours/vllm: 1\.200x \(goal >= 0\.97\)$", out, re.MULTILINE)
    assert re.search(r"^p50 latency ours/vllm: 1\.500x", out, re.MULTILINE)
    assert re.search(r"^p99 latency ours/vllm: 1\.000x$", out, re.MULTILINE)


@pytest.mark.vllm
def test_one_real_round_starts_both_servers_and_prints_parseable_ratios(engine_name):
    if engine_name != "vllm":
        pytest.skip("compares against vLLM's own server")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "4", "--concurrency", "2", "--max-tokens", "8", "--warmup", "1",
         "--rounds", "1", "--max-model-len", "512"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    order = re.findall(r"^round (\d)/1: (\S+)$", result.stdout, re.MULTILINE)
    assert order == [("1", "vllm-server"), ("1", "wechat-twin")]
    rows = re.findall(r"^(\d)\s+(vllm-server|wechat-twin)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", result.stdout,
                      re.MULTILINE)  # fmt: skip
    assert len(rows) == 2
    assert all(int(tokens) == 4 * 8 for *_, tokens in rows), "every request must generate its 8 tokens"
    assert "median over 1 rounds" in result.stdout
    for label in ("throughput", "p50 latency", "p99 latency"):
        match = re.search(rf"^{label} ours/vllm: ([\d.]+)x", result.stdout, re.MULTILINE)
        assert match and float(match.group(1)) > 0, label
