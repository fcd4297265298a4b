"""Benchmark the import pipeline on a generated MemoTrace export, next to pandas.read_csv of the same file.

    python bench/ingest.py                      # 1,000,000 messages
    python bench/ingest.py --messages 200000    # quicker, while developing

Generates a MemoTrace >= 1.0.3 `messages.csv` (shape E: utf-8-sig, CRLF, chats interleaved, text
with emoji codes, links and phone numbers, media and system rows, group chats), then runs, each
in a fresh process pinned to one CPU (polars then sizes its thread pool to one thread): the whole
`twin-train data` pipeline (parse, clean, redact, sessions, split, write) and `pandas.read_csv` of
the file alone. Absolute rates swing twofold from day to day on shared machines, so the goal is
judged against pandas in the same run: the whole pipeline in at most the time `pandas.read_csv`
takes to read the file alone, and <= 1 GiB peak memory (max RSS). Each side runs `--repeat` times
(default 3), alternating, and the best time of each is compared; peak memory is the largest seen. The
rates, and time and memory per message (which should stay flat from 100k to 3M messages), are printed
beside.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

GOAL_RATIO = 1.0  # pipeline time / read_csv time
GOAL_MEMORY = 1 << 30

WORDS = [
    "今天",
    "晚上",
    "吃饭",
    "哈哈哈",
    "好的",
    "明天",
    "开会",
    "ok",
    "lol",
    "sure",
    "let's go",
    "真的吗",
    "太累了",
    "周末",
    "打游戏",
    "下雨了",
    "in a meeting",
    "see you",
    "没问题",
    "wait~",
    "收到",
    "走吧",
]
EMOJI = ["[旺柴]", "[捂脸]", "[破涕为笑]", "[呲牙]", "😂", "👍", "🙏", ""]
EXTRAS = ["", "", "", "", "", "", "", "", " https://example.com/a?b=1", " 13800138000", " test@example.com", "\n第二行"]
MEDIA = [
    ("3", "0", '<?xml version="1.0"?>\n<msg><img md5="a" length="1"/></msg>'),
    ("47", "0", "<msg><emoji/></msg>"),
    ("34", "0", "<msg><voicemsg/></msg>"),
    ("49", "57", ""),
    ("49", "5", ""),
    ("10000", "0", '"x" 撤回了一条消息'),
]


def generate(path: Path, messages: int, seed: int = 7) -> None:
    """Chats with sticky conversations: the next message usually continues the current chat."""
    rng = random.Random(seed)
    chats = [(str(10 + i), f"friend{i}", f"Nick{i}", i % 10 == 0) for i in range(500)]
    texts = [
        " ".join(rng.sample(WORDS, rng.randint(1, 4))) + rng.choice(EXTRAS) + rng.choice(EMOJI) for _ in range(20_000)
    ]
    # Imported here, not at the top: it loads polars, which sizes its thread pool when first imported, and a
    # child must pin itself to one CPU before that (see `child`).
    from wechat_twin.training.formats.support.memotrace_rows import HEADER, ZONE, row

    now = datetime(2023, 1, 1, tzinfo=ZONE).timestamp()
    chat = chats[0]
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for local_id in range(1, messages + 1):
            now += rng.expovariate(1 / 30)
            if rng.random() < 0.1:
                chat = rng.choice(chats)
            talker, remark, nickname, group = chat
            is_me = rng.random() < 0.45
            sender = "" if is_me else (f"member{rng.randint(1, 8)}" if group else nickname)
            if rng.random() < 0.88:
                type_, subtype, content = "1", "0", rng.choice(texts)
            else:
                type_, subtype, content = rng.choice(MEDIA)
            remark = remark if not group else ""
            writer.writerow(row(local_id, talker, type_, subtype, is_me, int(now), content, remark, nickname, sender))


def child(kind: str, path: Path) -> None:
    """Runs in its own process so each side's peak memory is its own."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cpus:
        os.sched_setaffinity(0, {cpus[-1]})
    if kind == "pandas":
        import pandas as pd

        start, cpu = time.perf_counter(), time.process_time()
        frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        seconds, cpu, rows = time.perf_counter() - start, time.process_time() - cpu, len(frame)
    else:
        import polars as pl

        from wechat_twin.training.dataset.pipeline import PipelineOptions, run

        threads = pl.thread_pool_size()  # sized from the affinity above: the run is truly one core
        with tempfile.TemporaryDirectory() as out:
            start, cpu = time.perf_counter(), time.process_time()
            report = run([path], PipelineOptions(out=Path(out) / "dataset"))
            seconds, cpu, rows = time.perf_counter() - start, time.process_time() - cpu, report["messages_read"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {"seconds": seconds, "cpu_seconds": cpu, "rows": rows, "peak_bytes": peak}
    print(json.dumps(result | ({"threads": threads} if kind == "pipeline" else {})))


def measure(kind: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def best(results: list[dict]) -> dict:
    """The fastest run, with every run's time and the largest peak memory of any."""
    fastest = min(results, key=lambda r: r["seconds"])
    peak = max(r["peak_bytes"] for r in results)
    return fastest | {"peak_bytes": peak, "all_seconds": [r["seconds"] for r in results]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--csv", type=Path, help="reuse this generated file instead of writing a new one")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating; the best counts")
    parser.add_argument("--child", choices=["pipeline", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path)
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = args.csv or Path(tmp) / "messages.csv"
        if not path.exists():
            start = time.perf_counter()
            generate(path, args.messages)
            print(
                f"generated {args.messages:,} messages ({path.stat().st_size / 1e6:.0f} MB) "
                f"in {time.perf_counter() - start:.1f} s"
            )
        runs: dict[str, list[dict]] = {"pipeline": [], "pandas": []}
        for _ in range(args.repeat):
            for kind, results in runs.items():
                results.append(measure(kind, path))
    ours, pandas = (best(results) for results in runs.values())
    for name, result, unit in (("twin-train data", ours, "messages"), ("pandas.read_csv", pandas, "rows")):
        print(
            f"{name:<16} {result['rows']:>10,} {unit:<8} in {result['seconds']:6.2f} s: "
            f"{result['rows'] / result['seconds']:,.0f} {unit}/s wall "
            f"({result['rows'] / result['cpu_seconds']:,.0f} per CPU-second), "
            f"peak {result['peak_bytes'] / 2**20:,.0f} MiB; "
            f"{result['seconds'] / result['rows'] * 1e6:.2f} µs and {result['peak_bytes'] / result['rows']:,.0f} B "
            f"per {unit[:-1]} (best of {args.repeat}: {', '.join(f'{r:.2f}' for r in result['all_seconds'])} s)"
        )
    ratio = ours["seconds"] / pandas["seconds"]
    met = ratio <= GOAL_RATIO and ours["peak_bytes"] <= GOAL_MEMORY
    print(
        f"pipeline / read_csv: {ratio:.2f}x the time (goal <= {GOAL_RATIO:.2f}x), "
        f"peak {ours['peak_bytes'] / 2**20:,.0f} MiB (goal <= {GOAL_MEMORY / 2**20:,.0f} MiB): "
        f"{'met' if met else 'NOT met'}; one CPU each (polars threads in the pipeline: {ours['threads']}), "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
