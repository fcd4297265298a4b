"""bench/serve.py runs end to end (a smoke run: both servers, two alternating rounds) and prints parseable ratios."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "serve.py"


def test_the_serving_bench_alternates_rounds_and_reports_median_ratios(engine_name):
    if engine_name != "vllm":
        pytest.skip("compares against vLLM's own server")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "4", "--concurrency", "2", "--max-tokens", "8", "--warmup", "1",
         "--rounds", "2", "--max-model-len", "512"],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    order = re.findall(r"^round (\d)/2: (\S+)$", result.stdout, re.MULTILINE)
    assert order == [("1", "vllm-server"), ("1", "wechat-twin"), ("2", "vllm-server"), ("2", "wechat-twin")]
    rows = re.findall(r"^(\d)\s+(vllm-server|wechat-twin)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", result.stdout,
                      re.MULTILINE)  # fmt: skip
    assert len(rows) == 4
    assert all(int(tokens) == 4 * 8 for *_, tokens in rows), "every request must generate its 8 tokens"
    assert "median over 2 rounds" in result.stdout
    for label in ("throughput", "p50 latency", "p99 latency"):
        match = re.search(rf"^{label} ours/vllm: ([\d.]+)x", result.stdout, re.MULTILINE)
        assert match and float(match.group(1)) > 0, label
