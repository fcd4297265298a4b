"""Updating a clone against training it again: dev perplexity on the newest chats, and the time each takes.

    python bench/update.py                          # the sample export on the embedded model, 1 epoch each
    python bench/update.py --epochs 2 --max-length 512
    python bench/update.py --epochs 2 --update-epochs 1   # an update that passes over its samples once

The sample export is split by date: the messages before the median message's day are the old export, all
of them the new one (what a user has after exporting again). Three adapters, one recipe:

- old: `twin-train data` + `twin-train sft` on the old export (the parent);
- update: `twin-train update old NEW_EXPORT` (its dev split is the newest of the new sessions);
- scratch: `twin-train data` + `twin-train sft` on the new export, with the update's dev sessions taken out of
  its train split and made its dev split, so that no adapter has trained on what all three are scored on.

Each is scored by the same code (`twin-train eval`'s perplexity over the owner's tokens) on the update's dev
split. Times are wall time in this process, dataset making included (the update reads the whole new export
too). Goal: the update's perplexity within 5% of scratch's, in at most 50% of its time.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SAMPLE_EXPORT = Path(__file__).resolve().parent.parent / "examples" / "memotrace_sample" / "messages.csv"
GOAL_PERPLEXITY = 1.05  # update's over scratch's, at most
GOAL_TIME = 0.5  # update's over scratch's, at most
ZONE = ZoneInfo("Asia/Shanghai")  # the sample export's local times, and `twin-train data`'s default zone


@dataclass
class Result:
    name: str
    seconds: float
    perplexity: float = float("nan")


def split_by_date(export: Path, folder: Path) -> tuple[Path, Path, str]:
    """The old export (messages before the median message's day) and the new one (all), both MemoTrace CSV;
    and the day they were cut at."""
    with export.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    at = header.index("CreateTime")
    days = sorted(datetime.fromtimestamp(int(row[at]), ZONE).date().isoformat() for row in rows)
    cut = days[len(days) // 2]
    old = [row for row in rows if datetime.fromtimestamp(int(row[at]), ZONE).date().isoformat() < cut]
    return _write(folder / "old" / export.name, header, old), _write(folder / "new" / export.name, header, rows), cut


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _session(record: dict[str, Any]) -> tuple[str, str]:
    return record["chat"], record["session_start"]


def hold_out(data: Path, dev: Path) -> int:
    """Make `data` (a whole dataset) score on `dev`'s sessions: they leave its train split and become its dev
    split. Returns the train samples left."""
    held = _records(dev / "dev.jsonl")
    sessions = {_session(r) for r in held}
    train = [r for r in _records(data / "train.jsonl") + _records(data / "dev.jsonl") if _session(r) not in sessions]
    lines = lambda rows: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)  # noqa: E731
    (data / "train.jsonl").write_text(lines(train), encoding="utf-8")
    (data / "dev.jsonl").write_text(lines(held), encoding="utf-8")
    return len(train)


def timed(name: str, work: Callable[[], object]) -> Result:
    started = time.monotonic()
    work()
    return Result(name, time.monotonic() - started)


def ratios(update: Result, scratch: Result) -> dict[str, float]:
    return {"perplexity": update.perplexity / scratch.perplexity, "time": update.seconds / scratch.seconds}


def verdict(found: dict[str, float]) -> str:
    met = found["perplexity"] <= GOAL_PERPLEXITY and found["time"] <= GOAL_TIME
    return "goal met" if met else "goal missed"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", type=Path, default=SAMPLE_EXPORT, help="MemoTrace CSV to split by date")
    parser.add_argument("--model", default=None, help="Base model (default: the embedded one)")
    parser.add_argument("--epochs", type=float, default=1.0, help="Epochs of every run")
    parser.add_argument("--max-steps", type=int, default=-1, help="Steps of every run (a smoke test's few)")
    parser.add_argument("--max-length", type=int, default=512, help="Tokens per sample")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--replay", type=float, default=0.3, help="The update's --replay")
    parser.add_argument("--update-epochs", type=float, default=None, help="The update's --epochs (default: --epochs)")
    parser.add_argument("--work", type=Path, default=None, help="Folder for datasets and adapters (default: temporary)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, work: Path) -> tuple[dict[str, Result], str]:
    from wechat_twin.training.dataset.pipeline import PipelineOptions
    from wechat_twin.training.dataset.pipeline import run as make_dataset
    from wechat_twin.training.evaluate.perplexity import base_and_adapter_perplexity
    from wechat_twin.training.sft.train import SFTOptions, run_sft
    from wechat_twin.training.update.run import UpdateOptions, run_update

    old_export, new_export, cut = split_by_date(args.export, work / "exports")
    recipe = {
        "model": args.model,
        "epochs": args.epochs,
        "max_steps": args.max_steps,
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "evals": 1,
        "overwrite": True,
    }
    adapters = work / "adapters"

    def old() -> None:
        make_dataset([str(old_export)], PipelineOptions(out=work / "old-data"))
        run_sft(SFTOptions(data_dir=work / "old-data", out=adapters / "old", **recipe))

    def update() -> None:
        options = UpdateOptions(
            adapter=adapters / "old",
            exports=[str(new_export)],
            out=adapters / "update",
            replay=args.replay,
            epochs=args.update_epochs,
        )
        run_update(options)

    def scratch() -> None:
        make_dataset([str(new_export)], PipelineOptions(out=work / "scratch-data"))
        hold_out(work / "scratch-data", adapters / ".update.data")
        run_sft(SFTOptions(data_dir=work / "scratch-data", out=adapters / "scratch", **recipe))

    results = {name: timed(name, work_) for name, work_ in (("old", old), ("update", update), ("scratch", scratch))}
    from wechat_twin.server.adapters.card import read_card
    from wechat_twin.server.basemodel import resolve_base_model
    from wechat_twin.training.common.samples import read_sample_file

    card = read_card(adapters / "old")
    assert card is not None
    base = resolve_base_model(args.model).path
    dev = read_sample_file(adapters / ".update.data" / "dev.jsonl").samples
    for name, result in results.items():
        result.perplexity = base_and_adapter_perplexity(base, adapters / name, dev)[0]["adapter"]
    return results, cut


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-update-"))
    try:
        results, cut = run(args, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"split at {cut}: old export before it, new export all of it")
    for result in results.values():
        print(f"{result.name:8} dev perplexity {result.perplexity:8.3f} | {result.seconds:7.1f} s")
    found = ratios(results["update"], results["scratch"])
    print(
        f"update/scratch: perplexity {found['perplexity']:.3f}x (goal <= {GOAL_PERPLEXITY}), "
        f"time {found['time']:.2f}x (goal <= {GOAL_TIME}): {verdict(found)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
