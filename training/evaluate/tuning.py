"""`twin-train eval --tune-sampling`: the sampling settings whose replies sound most like the owner.

Greedy decoding and the engine's defaults both make a small clone repeat itself ("aiya~ / aiya~"); the
owner varies. A small grid over temperature, top_p and the repetition and frequency penalties is tried
on the dev prompts, and the point with the lowest style distance to the owner's real replies wins.
It is written into the adapter's `twin.json` (`sampling`), which the server applies to any request
that leaves those fields unset (`twin-server serve --sampling-override`: to all requests).
"""

from __future__ import annotations

from itertools import product
from typing import Any

from wechat_twin.training.evaluate.style import style_distance, style_of

DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "repetition_penalty": 1.0, "frequency_penalty": 0.0}
TEMPERATURES = (0.7, 1.0)
TOP_PS = (0.8, 0.95)
REPETITION_PENALTIES = (1.0, 1.2)
FREQUENCY_PENALTIES = (0.0, 0.5)


def grid() -> list[dict[str, float]]:
    """The engine's defaults first (the row the tuned one is compared with), then every grid point."""
    points = [
        {"temperature": t, "top_p": p, "repetition_penalty": rp, "frequency_penalty": fp}
        for t, p, rp, fp in product(TEMPERATURES, TOP_PS, REPETITION_PENALTIES, FREQUENCY_PENALTIES)
    ]
    return [DEFAULTS, *points]


def tuning_report(points: list[dict[str, float]], replies: list[list[str]], owner: list[str]) -> dict[str, Any]:
    """Every point's style distance, the winner, and the style at the defaults and at the winner."""
    owner_style = style_of(owner)
    styles = [style_of(r) for r in replies]
    distances = [style_distance(s, owner_style) for s in styles]
    best = min(range(len(points)), key=lambda i: (distances[i], i))
    return {
        "points": [{"sampling": p, "style_distance_to_owner": d} for p, d in zip(points, distances, strict=True)],
        "tuned": points[best],
        "style": {"defaults": styles[0], "tuned": styles[best], "owner": owner_style},
        "style_distance_to_owner": {"defaults": distances[0], "tuned": distances[best]},
    }
