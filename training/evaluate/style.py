"""Style statistics of a set of replies: the habits a friend would notice.

Length, bursts (lines per turn), WeChat emoji codes (`[捂脸]`), Unicode emoji, punctuation
habits and lexical variety (distinct-1/2 over characters, so Chinese and English count alike).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable

WECHAT_EMOJI = re.compile(r"\[[\u4e00-\u9fffA-Za-z]{1,6}\]")
UNICODE_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\U0001f000-\U0001f2ff]")

LENGTH_KEYS = ("chars_mean", "chars_median", "chars_p90", "lines_per_turn")
RATE_KEYS = (
    "wechat_emoji_rate",
    "unicode_emoji_rate",
    "ends_with_period_rate",
    "tilde_rate",
    "exclamation_rate",
    "question_rate",
    "distinct_1",
    "distinct_2",
)
STYLE_KEYS = LENGTH_KEYS + RATE_KEYS


def lines_of(reply: str) -> list[str]:
    """A reply's burst: the messages the bridge would send, one per non-empty line."""
    return [line for line in reply.strip().split("\n") if line.strip()]


def _rate(replies: list[str], test: Callable[[str], object]) -> float:
    return sum(1 for r in replies if test(r)) / len(replies) if replies else 0.0


def _distinct(replies: list[str], n: int) -> float:
    grams = [text[i : i + n] for text in replies for i in range(len(text) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]) if ordered else 0.0


def style_of(replies: list[str]) -> dict[str, float]:
    texts = [r.strip() for r in replies]
    lengths = [len(t) for t in texts]
    return {
        "chars_mean": statistics.fmean(lengths) if texts else 0.0,
        "chars_median": float(statistics.median(lengths)) if texts else 0.0,
        "chars_p90": _percentile(lengths, 0.9),
        "lines_per_turn": statistics.fmean(len(lines_of(t)) for t in texts) if texts else 0.0,
        "wechat_emoji_rate": _rate(texts, WECHAT_EMOJI.search),
        "unicode_emoji_rate": _rate(texts, UNICODE_EMOJI.search),
        "ends_with_period_rate": _rate(texts, lambda t: t.endswith(("。", "."))),
        "tilde_rate": _rate(texts, lambda t: "~" in t or "～" in t),
        "exclamation_rate": _rate(texts, lambda t: "!" in t or "！" in t),
        "question_rate": _rate(texts, lambda t: "?" in t or "？" in t),
        "distinct_1": _distinct(texts, 1),
        "distinct_2": _distinct(texts, 2),
    }


def style_distance(style: dict[str, float], owner: dict[str, float]) -> float:
    """Mean relative gap to the owner over every statistic: 0 is the owner's own style, 1 the farthest."""
    gaps = []
    for key in STYLE_KEYS:
        scale = max(abs(owner[key]), abs(style[key]), 1e-9)
        gaps.append(abs(style[key] - owner[key]) / scale)
    return statistics.fmean(gaps)
