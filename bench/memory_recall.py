"""What per-contact memory adds to a chat request: retrieval and the longer prompt, next to the prompt without it.

    python bench/memory_recall.py                        # the sample export, then 200,000 invented exchanges
    python bench/memory_recall.py --exchanges 1000000    # a long history

Builds memory.sqlite with `twin-train data` from `examples/memotrace_sample/messages.csv`, and a second
one of invented exchanges (mixed Chinese and English, 50 contacts) to show how it scales. For each it
times, per request, what the server does: `build_chat` and `render_chat_prompt` alone (the peer,
today's work), and the same with `recall` + `with_memory` (the memory hook), over dev-like queries.
Prints the p50 and p95 the hook adds. Goal: at most 20 ms p50 added.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from wechat_twin.memory.block import with_memory
from wechat_twin.memory.recall import recall
from wechat_twin.memory.store import MEMORY_FILE, Exchange, MemoryStore, build_memory, session_key
from wechat_twin.server.basemodel.embedded import ensure_embedded_model
from wechat_twin.server.prompting import build_chat, render_chat_prompt
from wechat_twin.training.dataset.pipeline import PipelineOptions, run

GOAL_MS = 20.0
SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "memotrace_sample" / "messages.csv"
PERSONA = "你是Jay。你正在微信上和朋友聊天，像Jay平时那样回复。"
WORDS_ZH = (
    "火锅",
    "周末",
    "加班",
    "老板",
    "电影",
    "羽毛球",
    "咖啡",
    "快递",
    "房租",
    "旅游",
    "生日",
    "考试",
    "下雨",
    "地铁",
    "外卖",
    "健身",
    "猫咪",
    "游戏",
    "妈妈",
    "礼物",
)
WORDS_EN = (
    "dinner",
    "weekend",
    "report",
    "movie",
    "coffee",
    "gym",
    "trip",
    "birthday",
    "exam",
    "rain",
    "subway",
    "game",
    "cat",
    "gift",
    "boss",
)


def invented(count: int, contacts: int, rng: random.Random) -> list[Exchange]:
    out = []
    for i in range(count):
        contact = f"c{rng.randrange(contacts):04d}"
        start = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00+08:00"
        friend = "".join(rng.sample(WORDS_ZH, 3)) + "吗？ " + " ".join(rng.sample(WORDS_EN, 2))
        owner = "好呀~ " + "".join(rng.sample(WORDS_ZH, 2)) + " [旺柴]"
        out.append(Exchange(contact, session_key(contact, start), start, friend, owner))
    return out


def timings(store: MemoryStore, contacts: list[str], tokenizer, rng: random.Random, rounds: int) -> tuple[list, list]:
    plain, hooked = [], []
    for _ in range(rounds):
        query = "".join(rng.sample(WORDS_ZH, 2)) + " " + rng.choice(WORDS_EN) + "?"
        messages = [{"role": "user", "content": query}]
        started = time.perf_counter()
        render_chat_prompt(tokenizer, build_chat(messages, PERSONA))
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        chat = build_chat(messages, PERSONA)
        render_chat_prompt(tokenizer, with_memory(chat, recall(store, rng.choice(contacts), chat)))
        hooked.append(time.perf_counter() - started)
    return plain, hooked


def report(name: str, plain: list[float], hooked: list[float]) -> float:
    def ms(values: list[float], q: float) -> float:
        return 1000 * statistics.quantiles(values, n=100)[int(q * 100) - 1]

    added = ms(hooked, 0.5) - ms(plain, 0.5)
    print(
        f"{name}: prompt without memory p50 {ms(plain, 0.5):.2f} ms; with memory p50 {ms(hooked, 0.5):.2f} ms, "
        f"p95 {ms(hooked, 0.95):.2f} ms; added p50 {added:.2f} ms (goal <= {GOAL_MS:.0f} ms)"
    )
    return added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exchanges", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ensure_embedded_model())
    rng = random.Random(0)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        run([SAMPLE], PipelineOptions(out=Path(tmp) / "sample", owner_name="Jay"))
        sample = MemoryStore(Path(tmp) / "sample" / MEMORY_FILE)
        worst = max(worst, report("sample export", *timings(sample, sample.contacts(), tokenizer, rng, args.rounds)))
        started = time.perf_counter()
        path = Path(tmp) / "big.sqlite"
        exchanges = invented(args.exchanges, 50, rng)
        path.write_bytes(build_memory(exchanges, {e.contact: e.contact for e in exchanges}, None))
        built = time.perf_counter() - started
        big = MemoryStore(path)
        print(f"built {args.exchanges:,} invented exchanges in {built:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
        worst = max(
            worst, report(f"{args.exchanges:,} exchanges", *timings(big, big.contacts(), tokenizer, rng, args.rounds))
        )
    return 0 if worst <= GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
