"""How close the bridge's waits come to the owner's own: drawn reply latencies against the dev split's real ones.

    python bench/rhythm.py                                        # the two examples: Jay's sample and Lin's
    python bench/rhythm.py path/to/export.csv --seed 3 --draws 50

For each export, `twin-train data`'s pipeline measures the rhythm on every session outside the dev split (as
`report.json` has it), then each friend turn of the dev split that the owner answered is replayed `--draws`
times through the bridge's own timing code (`bridge/rhythm.py`'s `Timing`, one seeded generator) and
compared with what the owner really took: the two-sample Kolmogorov-Smirnov distance, 0 for the same
distribution, 1 for none in common. Next to it the fixed timing the bridge had before (typing pauses of
0.2 s a character, at most 4 s), and the gaps between a reply's bubbles the same way. Goal: KS <= 0.15
for the latency with the rhythm (the fixed timing is near 1).
"""

from __future__ import annotations

import argparse
import bisect
import random
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from wechat_twin.bridge.config import BridgeConfig
from wechat_twin.bridge.rhythm import Pacing, Rhythm, Timing
from wechat_twin.training.dataset.pipeline import PipelineOptions, rhythm_splits
from wechat_twin.training.dataset.rhythm import RhythmEvents, measure

GOAL = 0.15
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXPORTS = (EXAMPLES / "memotrace_sample" / "messages.csv", EXAMPLES / "rhythm_sample" / "messages.csv")


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    first, second = sorted(a), sorted(b)
    points = sorted(set(first) | set(second))
    return max(
        abs(bisect.bisect_right(first, x) / len(first) - bisect.bisect_right(second, x) / len(second)) for x in points
    )


def replay(dev: RhythmEvents, names: dict[str, tuple[str, ...]], timing: Timing, draws: int) -> list[float]:
    """The latency the bridge draws for each answered dev turn, `draws` times each."""
    drawn = []
    for chat_id, hour, latency in dev.replies.select("chat_id", "hour", "latency").iter_rows():
        if latency is not None:
            drawn += [timing.latency(names.get(chat_id, (chat_id,)), hour) for _ in range(draws)]
    return drawn


def fixed_latency(dev: RhythmEvents) -> list[float]:
    """Before the rhythm, the first bubble went out after its typing pause (generation time left out)."""
    fixed = Timing(None, Pacing(), random.Random(0))
    return [fixed.gap("x" * chars, first=True) for chars in dev.replies["reply_chars"].drop_nulls().to_list()]


def gaps(dev: RhythmEvents, timing: Timing, draws: int) -> list[float]:
    return [timing.gap("x" * chars, first=False) for chars in dev.gaps["chars"].to_list() for _ in range(draws)]


def bench(export: Path, seed: int, draws: int, cap: float) -> float:
    with tempfile.TemporaryDirectory() as out:
        train, dev, names = rhythm_splits([export], PipelineOptions(out=Path(out), memory=False))
    learned = measure(train, names)
    if learned is None:
        raise SystemExit(f"{export}: no one-to-one replies to measure")
    rhythm = Rhythm.parse(learned)
    real = dev.latencies()
    real_gaps = dev.gaps["gap"].to_list()
    default_cap = BridgeConfig().max_reply_delay_s
    rows = []
    for label, limit in (
        (f"rhythm, max_reply_delay_s {cap:g}", cap),
        (f"rhythm, default cap {default_cap:g}", default_cap),
    ):
        timing = Timing(rhythm, Pacing(max_reply_delay_s=limit), random.Random(seed))
        rows.append(
            (
                label,
                ks_distance(replay(dev, names, timing, draws), real),
                ks_distance(gaps(dev, timing, draws), real_gaps) if real_gaps else float("nan"),
            )
        )
    fixed = Timing(None, Pacing(), random.Random(seed))
    rows.append(
        (
            "fixed typing pauses (before)",
            ks_distance(fixed_latency(dev), real),
            ks_distance(gaps(dev, fixed, 1), real_gaps) if real_gaps else float("nan"),
        )
    )
    print(
        f"\n{export.relative_to(EXAMPLES.parent) if export.is_relative_to(EXAMPLES.parent) else export}: "
        f"{len(train.latencies())} replies measured, {len(real)} dev replies and {len(real_gaps)} dev bubble gaps "
        f"replayed x{draws} (seed {seed})"
    )
    print(f"  {'timing':<36} {'KS latency':>10} {'KS gaps':>8}")
    for label, latency, gap in rows:
        print(f"  {label:<36} {latency:>10.3f} {gap:>8.3f}")
    return rows[0][1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exports", nargs="*", type=Path, default=list(EXPORTS), help="chat exports (default: both)")
    parser.add_argument("--seed", type=int, default=7, help="the generator's seed")
    parser.add_argument("--draws", type=int, default=20, help="draws per dev turn")
    parser.add_argument(
        "--max-reply-delay",
        type=float,
        default=3600.0,
        help="the cap on a drawn wait (default: the session gap: the owner's whole range)",
    )
    args = parser.parse_args(argv)
    worst = max(bench(export, args.seed, args.draws, args.max_reply_delay) for export in args.exports)
    print(f"\nworst KS latency with the rhythm: {worst:.3f} (goal <= {GOAL})")
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
