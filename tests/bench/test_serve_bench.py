"""bench/serve.py: how rounds alternate and what is reported (no server), and one real round end to end."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.bench.loading import bench_module

BENCH = Path(__file__).resolve().parents[2] / "bench" / "serve.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    with bench_module(BENCH, "serve_bench") as module:
        yield module


def test_servers_alternate_within_each_round_and_each_ratio_is_the_median_of_per_round_ratios(bench, capsys):
    # tokens/s per round, theirs and ours: the ratio within each round is 1.2, 0.8, 1.3 (median 1.2),
    # while the ratio of the medians (40/50) would say 0.8: a drifting machine cannot move the result.
    speeds = {
        (1, "vllm-server"): 10,
        (1, "wechat-twin"): 12,
        (2, "vllm-server"): 50,
        (2, "wechat-twin"): 40,
        (3, "vllm-server"): 100,
        (3, "wechat-twin"): 130,
    }
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
    assert re.search(r"^throughput ours/vllm: 1\.200x \(goal >= 1\.0\)$", out, re.MULTILINE)
    assert re.search(r"^p50 latency ours/vllm: 1\.500x", out, re.MULTILINE)
    assert re.search(r"^p99 latency ours/vllm: 1\.000x$", out, re.MULTILINE)


def test_clones_are_asked_round_robin_and_a_reply_unlike_the_same_clone_alone_counts_as_wrong(bench):
    clones = ["clone000", "clone001", "clone002"]
    load = bench.asks(clones, 7)
    assert [model for model, _ in load] == clones * 2 + clones[:1]
    assert [prompt for _, prompt in load] == [bench.PROMPTS[i % len(bench.PROMPTS)] for i in range(7)]
    alone = {ask: f"{ask[0]} says hi" for ask in load}
    replies = [(ask, alone[ask]) for ask in load]
    assert bench.count_wrong(replies, alone) == 0
    replies[4] = (load[4], "clone000 says hi")  # clone001 answered with another clone's weights
    replies[6] = (load[6], "clone000 says hi!")
    assert bench.count_wrong(replies, alone) == 2


def test_many_clones_report_start_up_ratio_and_wrong_replies_per_server(bench, capsys):
    def result(name: str, tokens: int, startup_s: float, wrong: int) -> object:
        return bench.LoadResult(name, 1.0, tokens, [1.0, 2.0], startup_s, wrong)

    rounds = [
        [result("vllm-server", 100, 40.0, 0), result("wechat-twin", 110, 20.0, 0)],
        [result("vllm-server", 100, 50.0, 1), result("wechat-twin", 90, 30.0, 0)],
        [result("vllm-server", 100, 40.0, 0), result("wechat-twin", 105, 30.0, 2)],
    ]
    bench.report("clones", rounds)
    out = capsys.readouterr().out
    assert re.search(r"^throughput ours/vllm: 1\.050x \(goal >= 1\.0\)$", out, re.MULTILINE)
    assert re.search(r"^start-up ours/vllm: 0\.600x \(goal <= 1\.0\)$", out, re.MULTILINE)  # 0.5, 0.6, 0.75
    assert re.search(r"^wrong replies vllm-server: 1 \(goal 0\)$", out, re.MULTILINE)
    assert re.search(r"^wrong replies wechat-twin: 2 \(goal 0\)$", out, re.MULTILINE)
    assert re.search(r"^3\s+wechat-twin\s+105\.0\s+[\d.]+\s+[\d.]+\s+105\s+30\.0\s+2$", out, re.MULTILINE)


def test_clone_folders_copy_a_few_distinct_adapters_and_vllm_is_given_every_one(bench, tmp_path, monkeypatch):
    built = []

    def fake_build(model, out_dir, seed, system_prompt, base_name):
        out_dir.mkdir(parents=True)
        (out_dir / "adapter_config.json").write_text(str(seed))
        built.append(seed)
        return out_dir

    monkeypatch.setattr(bench, "build_random_adapter", fake_build)
    names = bench.build_clones(tmp_path / "model", tmp_path / "adapters", bench.DISTINCT_CLONES + 3)
    assert built == list(range(1, bench.DISTINCT_CLONES + 1))
    assert (tmp_path / "adapters" / names[-1] / "adapter_config.json").read_text() == "3"
    args = argparse.Namespace(max_model_len=512)
    command = bench.vllm_command(tmp_path / "model", tmp_path / "adapters", 8000, args)
    modules = command[command.index("--lora-modules") + 1 : command.index("--port")]
    assert modules == [f"{name}={tmp_path / 'adapters' / name}" for name in names]


@pytest.mark.vllm
def test_one_real_round_starts_both_servers_and_prints_parseable_ratios(engine_name):
    if engine_name != "vllm":
        pytest.skip("compares against vLLM's own server")
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--requests",
            "4",
            "--concurrency",
            "2",
            "--max-tokens",
            "8",
            "--warmup",
            "1",
            "--rounds",
            "1",
            "--max-model-len",
            "512",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    order = re.findall(r"^round (\d)/1: (\S+)$", result.stdout, re.MULTILINE)
    assert order == [("1", "vllm-server"), ("1", "wechat-twin")]
    rows = re.findall(
        r"^(\d)\s+(vllm-server|wechat-twin)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+-$",
        result.stdout,
        re.MULTILINE,
    )
    assert len(rows) == 2
    assert all(int(row[5]) == 4 * 8 for row in rows), "every request must generate its 8 tokens"
    assert all(float(row[6]) > 0 for row in rows), "each server's start-up time"
    assert "median over 1 rounds" in result.stdout
    for label in ("throughput", "p50 latency", "p99 latency"):
        match = re.search(rf"^{label} ours/vllm: ([\d.]+)x", result.stdout, re.MULTILINE)
        assert match and float(match.group(1)) > 0, label
