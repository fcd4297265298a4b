"""bench/ingest.py, run small: its lines parse, both sides read every generated message, the best of the
runs counts, and the goal is judged by the ratio to pandas in the same run."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.deploy.files import REPO

BENCH = REPO / "bench" / "ingest.py"
MESSAGES = 20_000
REPEAT = 2
RESULT_LINE = re.compile(
    r"^(?P<name>twin-train data|pandas\.read_csv) +(?P<count>[\d,]+) (?:messages|rows) +in +(?P<seconds>[\d.]+) s: "
    r"(?P<rate>[\d,]+) (?:messages|rows)/s wall \((?P<cpu_rate>[\d,]+) per CPU-second\), peak (?P<peak>[\d,]+) MiB; "
    r"(?P<micros>[\d.]+) µs and (?P<bytes>[\d,]+) B per (?:message|row) "
    r"\(best of (?P<runs>\d+): (?P<all>[\d., ]+) s\)$",
    re.MULTILINE,
)
GOAL_LINE = re.compile(
    r"^pipeline / read_csv: (?P<ratio>[\d.]+)x the time \(goal <= 1\.00x\), peak (?P<peak>[\d,]+) MiB "
    r"\(goal <= 1,024 MiB\): (?P<verdict>met|NOT met);",
    re.MULTILINE,
)


ROUNDING = 0.005  # seconds are printed to two decimals


def number(text: str) -> float:
    return float(text.replace(",", ""))


def test_a_small_ingest_bench_reads_every_message_and_judges_by_ratio():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--messages", str(MESSAGES), "--repeat", str(REPEAT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = {m["name"]: m for m in RESULT_LINE.finditer(done.stdout)}
    assert set(results) == {"twin-train data", "pandas.read_csv"}, done.stdout
    for result in results.values():
        assert number(result["count"]) == MESSAGES
        seconds = float(result["seconds"])
        assert MESSAGES / (seconds + ROUNDING) - 1 <= number(result["rate"]) <= MESSAGES / (seconds - ROUNDING) + 1
        runs = [float(t) for t in result["all"].split(", ")]
        assert int(result["runs"]) == len(runs) == REPEAT and seconds == min(runs), "the best of the runs counts"
        assert abs(float(result["micros"]) - seconds / MESSAGES * 1e6) <= ROUNDING / MESSAGES * 1e6 + 0.01
    goal = GOAL_LINE.search(done.stdout)
    assert goal is not None, done.stdout
    ours, pandas = results["twin-train data"], results["pandas.read_csv"]
    a, b = float(ours["seconds"]), float(pandas["seconds"])
    assert (a - ROUNDING) / (b + ROUNDING) - 0.005 <= float(goal["ratio"]) <= (a + ROUNDING) / (b - ROUNDING) + 0.005
    met = float(goal["ratio"]) <= 1.0 and number(ours["peak"]) <= 1024
    assert goal["verdict"] == ("met" if met else "NOT met")
