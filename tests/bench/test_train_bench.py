"""bench/train_gpu.py: the tiny CPU run of the real code path, its token counting, and the GPU run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
import torch

from tests.bench.loading import bench_module
from tests.deploy.files import REPO

BENCH = REPO / "bench" / "train_gpu.py"
RESULT_LINE = re.compile(
    r"^\s*(?P<mode>unpacked|packed): params (?P<params>[\d,]+) \| tokens/s (?P<rate>[\d,]+) \| MFU (?P<mfu>[\d.]+)% "
    r"\| peak GPU memory (?P<memory>[\d.]+ GiB|n/a \(CPU\)) \| (?P<tokens>[\d,]+) non-pad tokens",
    re.MULTILINE,
)
RATIO_LINE = re.compile(r"^packed/unpacked tokens/s: (?P<ratio>[\d.]+)x$", re.MULTILINE)


def number(text: str) -> int:
    return int(text.replace(",", ""))


def run_bench(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    with bench_module(BENCH, "train_gpu_bench") as module:
        yield module


@pytest.mark.slow  # trains: the real code path on a tiny model
def test_tiny_run_prints_both_modes_and_their_ratio() -> None:
    result = run_bench("--tiny")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {match["mode"]: match for match in RESULT_LINE.finditer(result.stdout)}
    assert set(rows) == {"unpacked", "packed"}, result.stdout
    for row in rows.values():
        assert number(row["rate"]) > 0 and number(row["tokens"]) > 0
        assert row["memory"] == "n/a (CPU)"
    # --tiny: batch 4 of 40..400-token samples; packed rows hold 4 x 400 tokens; 2 timed steps.
    assert number(rows["unpacked"]["tokens"]) <= 2 * 4 * 400
    assert number(rows["packed"]["tokens"]) <= 2 * 4 * 400
    assert RATIO_LINE.search(result.stdout), result.stdout


def test_without_a_gpu_it_says_skip_and_exits_zero() -> None:
    result = run_bench("--steps", "2", "--warmup-steps", "1", env={"CUDA_VISIBLE_DEVICES": ""}, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("SKIP: no CUDA GPU"), result.stdout


@pytest.mark.slow  # three training steps in each mode
@pytest.mark.parametrize("mode", ["unpacked", "packed"])
def test_throughput_counts_real_tokens_not_padding(bench: ModuleType, mode: str) -> None:
    """One 40-token and one 400-token sample per step: 440 real tokens, 800 once padded."""
    from datasets import Dataset

    args = bench.parse_args(["--tiny", "--batch-size", "2", "--steps", "3", "--warmup-steps", "1"])
    rows = [[5] * 39 + [bench.EOS_ID], [7] * 399 + [bench.EOS_ID]]
    result = bench.run_once(mode, args, bench.TINY_SHAPE, Dataset.from_dict({"input_ids": rows}), "cpu")
    assert result.timed_steps == 2
    assert result.tokens == 2 * 440
    assert result.params == sum(
        p.numel() for p in bench.build_model(bench.TINY_SHAPE, "cpu", torch.float32).parameters()
    ), "MFU must use the base model's parameters"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_seven_billion_shape_on_the_gpu() -> None:
    result = run_bench("--steps", "6", "--warmup-steps", "2", timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {match["mode"]: match for match in RESULT_LINE.finditer(result.stdout)}
    assert set(rows) == {"unpacked", "packed"}, result.stdout
    for row in rows.values():
        assert 7.0e9 < number(row["params"]) < 8.0e9, "not the Qwen2-7B shape"
        assert float(row["mfu"]) > 5, f"{row['mode']}: MFU {row['mfu']}% is far below a working GPU run"
        assert row["memory"].endswith("GiB")
    assert float(RATIO_LINE.search(result.stdout)["ratio"]) > 1.0, "packing should beat padding on uneven chats"
