"""Hold out some feedback so reward accuracy is also measured on replies the training never saw.

Items that share a prompt stay on the same side: two choices made on one context would
otherwise let the held-out score measure memorisation.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Protocol, TypeVar


class HasPrompt(Protocol):
    @property
    def prompt(self) -> list[dict[str, str]]: ...


Item = TypeVar("Item", bound=HasPrompt)


def split_heldout(items: Sequence[Item], fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """(train, held-out), each in the input's order; held-out is empty when the fraction rounds down to no item."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in [0, 1), got {fraction}")
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(json.dumps(item.prompt, ensure_ascii=False, sort_keys=True), []).append(index)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    wanted = int(len(items) * fraction)
    chosen: set[int] = set()
    for key in keys:
        if len(chosen) + len(groups[key]) <= wanted:
            chosen.update(groups[key])
    train = [item for index, item in enumerate(items) if index not in chosen]
    return train, [item for index, item in enumerate(items) if index in chosen]
