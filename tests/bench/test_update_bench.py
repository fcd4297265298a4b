"""bench/update.py: the date split, the held-out sessions nobody trains on, the ratios, and one tiny real run."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

from tests.bench.loading import bench_module
from tests.deploy.files import REPO

BENCH = REPO / "bench" / "update.py"
ROW = re.compile(r"^(?P<name>old|update|scratch) +dev perplexity +(?P<ppl>[\d.]+) \| +(?P<s>[\d.]+) s$", re.MULTILINE)
RATIO = re.compile(
    r"^update/scratch: perplexity (?P<ppl>[\d.]+)x .* time (?P<time>[\d.]+)x .*: goal (met|missed)$", re.M
)


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    with bench_module(BENCH, "update_bench") as module:
        yield module


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_old_export_is_the_days_before_the_median_and_the_new_one_all(bench, tmp_path):
    old, new, cut = bench.split_by_date(bench.SAMPLE_EXPORT, tmp_path)
    everything = rows(bench.SAMPLE_EXPORT)
    day = lambda row: datetime.fromtimestamp(int(row["CreateTime"]), bench.ZONE).date().isoformat()  # noqa: E731
    assert rows(new) == everything
    assert rows(old) == [row for row in everything if day(row) < cut]
    assert 0.3 * len(everything) < len(rows(old)) < 0.7 * len(everything)  # about half, cut at a day boundary


def test_scratch_scores_on_the_updates_dev_sessions_without_training_on_them(bench, tmp_path):
    def record(chat: str, start: str) -> dict:
        return {"messages": [], "chat": chat, "session_start": start}

    data, update = tmp_path / "scratch", tmp_path / "update"
    for folder, train, dev in (
        (data, [record("a", "1"), record("a", "2"), record("b", "1")], [record("a", "3")]),
        (update, [record("a", "2")], [record("a", "3"), record("b", "1")]),
    ):
        folder.mkdir()
        for name, records in (("train.jsonl", train), ("dev.jsonl", dev)):
            (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert bench.hold_out(data, update) == 2
    read = lambda name: [(r["chat"], r["session_start"]) for r in map(json.loads, (data / name).open())]  # noqa: E731
    assert read("train.jsonl") == [("a", "1"), ("a", "2")]
    assert read("dev.jsonl") == [("a", "3"), ("b", "1")]


def test_ratios_and_verdict(bench):
    update, scratch = bench.Result("update", 40.0, 10.4), bench.Result("scratch", 100.0, 10.0)
    found = bench.ratios(update, scratch)
    assert found == pytest.approx({"perplexity": 1.04, "time": 0.4})
    assert bench.verdict(found) == "goal met"
    assert bench.verdict({"perplexity": 1.04, "time": 0.6}) == "goal missed"
    assert bench.verdict({"perplexity": 1.06, "time": 0.4}) == "goal missed"


@pytest.mark.slow
def test_a_tiny_run_prints_three_adapters_and_the_ratios(bench, tiny_model, tmp_path, capsys):
    args = ["--model", str(tiny_model), "--max-steps", "1", "--max-length", "256", "--work", str(tmp_path)]
    assert bench.main(args) == 0
    out = capsys.readouterr().out
    found = {m["name"]: m for m in ROW.finditer(out)}
    assert set(found) == {"old", "update", "scratch"}, out
    assert all(float(m["ppl"]) > 1 and float(m["s"]) > 0 for m in found.values())
    ratio = RATIO.search(out)
    assert ratio, out
    update, scratch = found["update"], found["scratch"]
    assert float(ratio["ppl"]) == pytest.approx(float(update["ppl"]) / float(scratch["ppl"]), rel=0.01)
    card = json.loads((tmp_path / "adapters" / "update" / "twin.json").read_text(encoding="utf-8"))
    assert card["parent_adapter"] == "old"
