"""`twin-train eval --tune-sampling`: the sampling settings whose replies sound most like the owner.

Greedy decoding and the engine's defaults both make a small clone repeat itself ("aiya~ / aiya~"); the
owner varies. A small grid over temperature, top_p and the repetition and frequency penalties is tried
on the dev prompts, and the point with the lowest style distance to the owner's real replies wins.
It is written into the adapter's `twin.json` (`sampling`), which the server applies to any request
that leaves those fields unset (`twin-server serve --sampling-override`: to all requests).

On a small dev set one seed's luck moves the style distance as much as the settings do (measured on
the demo clone: the one-seed winner was no closer than the defaults on fresh seeds). So every point
is scored by its mean over several seeds, and the defaults and the winner are then sampled again on
as many seeds that played no part in choosing it: the report says how often the tuned values still
sound closer to the owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import product
from statistics import fmean
from typing import Any

from wechat_twin.training.evaluate.style import style_distance, style_of

DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "repetition_penalty": 1.0, "frequency_penalty": 0.0}
TEMPERATURES = (0.7, 1.0)
TOP_PS = (0.8, 0.95)
REPETITION_PENALTIES = (1.0, 1.2)
FREQUENCY_PENALTIES = (0.0, 0.5)
SEEDS = 3


def grid() -> list[dict[str, float]]:
    """The engine's defaults first (the row the tuned one is compared with), then every grid point."""
    points = [
        {"temperature": t, "top_p": p, "repetition_penalty": rp, "frequency_penalty": fp}
        for t, p, rp, fp in product(TEMPERATURES, TOP_PS, REPETITION_PENALTIES, FREQUENCY_PENALTIES)
    ]
    return [DEFAULTS, *points]


def replies_key(index: int, seed: int) -> str:
    """Where `generate_replies` puts grid point `index`'s replies on `seed`."""
    return f"sampling/{index}/seed/{seed}"


def _lowest_mean(per_seed: list[list[float]]) -> int:
    """The point with the lowest mean distance; ties go to the earlier."""
    means = [fmean(distances) for distances in per_seed]
    return min(range(len(means)), key=lambda i: (means[i], i))


@dataclass(frozen=True)
class SamplingSearch:
    """What the reply generator needs to run the search: the points, the seeds, and how to pick the winner."""

    owner: list[str]
    seeds: int = SEEDS
    points: list[dict[str, float]] = field(default_factory=grid)

    @property
    def grid_seeds(self) -> range:
        return range(self.seeds)

    @property
    def recheck_seeds(self) -> range:
        return range(self.seeds, 2 * self.seeds)

    @property
    def most_passes(self) -> int:
        """Passes over the prompts: every point on the grid seeds, then at most two points on the fresh ones."""
        return (len(self.points) + 2) * self.seeds

    @cached_property
    def owner_style(self) -> dict[str, float]:
        return style_of(self.owner)

    def distance(self, replies: dict[str, list[str]], index: int, seeds: range) -> list[float]:
        """Point `index`'s style distance to the owner on each of `seeds`."""
        return [style_distance(style_of(replies[replies_key(index, seed)]), self.owner_style) for seed in seeds]

    def grid_distances(self, replies: dict[str, list[str]]) -> list[list[float]]:
        """Per point, its distance on each grid seed."""
        return [self.distance(replies, index, self.grid_seeds) for index in range(len(self.points))]

    def best(self, replies: dict[str, list[str]]) -> int:
        """The point with the lowest mean distance over the grid seeds; ties go to the earlier."""
        return _lowest_mean(self.grid_distances(replies))

    def rechecked(self, best: int) -> list[int]:
        """The points sampled again on the fresh seeds: the defaults and the winner (once if they are the same)."""
        return sorted({0, best})


def _mean_style(replies: dict[str, list[str]], index: int, seeds: range) -> dict[str, float]:
    styles = [style_of(replies[replies_key(index, seed)]) for seed in seeds]
    return {key: fmean(style[key] for style in styles) for key in styles[0]}


def tuning_report(search: SamplingSearch, replies: dict[str, list[str]]) -> dict[str, Any]:
    """Every point's distance (mean and per seed), the winner, the mean style at the defaults and at the
    winner, and the recheck on fresh seeds."""
    per_seed = search.grid_distances(replies)
    best = _lowest_mean(per_seed)
    points = [
        {"sampling": point, "style_distance_to_owner": fmean(distances), "per_seed": distances}
        for point, distances in zip(search.points, per_seed, strict=True)
    ]
    recheck = {
        name: search.distance(replies, index, search.recheck_seeds)
        for name, index in (("defaults", 0), ("tuned", best))
    }
    return {
        "seeds": list(search.grid_seeds),
        "points": points,
        "tuned": search.points[best],
        "style": {
            "defaults": _mean_style(replies, 0, search.grid_seeds),
            "tuned": _mean_style(replies, best, search.grid_seeds),
            "owner": search.owner_style,
        },
        "style_distance_to_owner": {
            "defaults": points[0]["style_distance_to_owner"],
            "tuned": points[best]["style_distance_to_owner"],
        },
        "recheck": {
            "seeds": list(search.recheck_seeds),
            "style_distance_to_owner": recheck,
            "tuned_closer": sum(t < d for t, d in zip(recheck["tuned"], recheck["defaults"], strict=True)),
        },
    }
