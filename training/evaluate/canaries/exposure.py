"""Exposure (Carlini et al., "The Secret Sharer", 2019): how far up its candidates a planted secret ranks.

The model scores the canary and each candidate by the loss of the secret after the same prefix
(a sum over its tokens, so longer secrets are not favoured). With R the canary and its candidates,
exposure = log2|R| - log2 rank: 0 when the canary is the least likely, log2|R| bits when it is the
most likely, about 1 bit on average for a secret the model never saw. The rank caps it at log2|R|;
the estimate (§4.3 of the paper) fits a normal to the candidates' losses and reads how rare the
canary's loss is, so a memorised secret can be told from one that merely tops a small list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import fmean, pstdev
from typing import Any

ESTIMATE_CAP = (
    100.0  # bits: far past any list of candidates; also what a loss below every candidate's with no spread gets
)


def rank_of(canary_loss: float, candidate_losses: Sequence[float]) -> int:
    """1 + the candidates the model finds strictly more likely (lower loss); ties go to the canary."""
    return 1 + sum(loss < canary_loss for loss in candidate_losses)


def exposure(rank: int, population: int) -> float:
    """log2(population) - log2(rank), population = the canary and its candidates."""
    if not 1 <= rank <= population:
        raise ValueError(f"rank {rank} outside 1..{population}")
    return math.log2(population) - math.log2(rank)


def estimated_exposure(canary_loss: float, candidate_losses: Sequence[float]) -> float:
    """-log2 P(loss <= canary's) under a normal fitted to the candidates' losses: not capped by their number, only
    by `ESTIMATE_CAP` (so the report stays finite JSON)."""
    mean, spread = fmean(candidate_losses), pstdev(candidate_losses)
    if spread == 0:
        return 0.0 if canary_loss >= mean else ESTIMATE_CAP
    share = 0.5 * math.erfc((mean - canary_loss) / (spread * math.sqrt(2)))
    return min(-math.log2(share), ESTIMATE_CAP) if share > 0 else ESTIMATE_CAP


def summarise(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """Rows grouped by `keys` (e.g. side, then repeats): mean exposure of the probe and of the base, and how
    many canaries each extracted."""
    groups: dict[str, Any] = {}
    for row in rows:
        node = groups
        for key in keys[:-1]:
            node = node.setdefault(str(row[key]), {})
        node.setdefault(str(row[keys[-1]]), []).append(row)

    def stats(found: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "canaries": len(found),
            "exposure": round(fmean(r["exposure"] for r in found), 2),
            "exposure_base": round(fmean(r["exposure_base"] for r in found), 2),
            "estimated_exposure": round(fmean(r["estimated_exposure"] for r in found), 2),
            "extracted": sum(r["extracted"] for r in found),
            "extracted_base": sum(r["extracted_base"] for r in found),
        }

    def walk(node: dict[str, Any]) -> dict[str, Any]:
        return {k: stats(v) if isinstance(v, list) else walk(v) for k, v in sorted(node.items(), key=_order)}

    return walk(groups)


def _order(item: tuple[str, Any]) -> tuple[int, int | str]:
    key = item[0]
    return (0, int(key)) if key.isdigit() else (1, key)
