"""`twin-train eval --memory`: does retrieving a contact's past exchanges make the owner's replies likelier?

Four rows on the dev set, the same adapter and samples each time, only the system block differs:
no memory; memory (what the server sends: `recall`); the contact's exchanges drawn at random (does
*similarity* matter?); the most similar exchanges of other contacts (does *this friend's* history
matter, or any chat text?). The controls keep the contact's facts, so they differ from the memory
row in the exchanges alone. The verdict gives the change in perplexity with a bootstrap interval
over dev samples, so a small dev set reads as uncertain rather than as a result.
"""

from __future__ import annotations

import random
from typing import Any

from wechat_twin.memory.block import latest_query, memory_block, with_memory
from wechat_twin.memory.recall import RecallSettings, recall
from wechat_twin.memory.store import MemoryStore
from wechat_twin.training.common.samples import Messages, Origin
from wechat_twin.training.evaluate.perplexity import perplexity_of
from wechat_twin.training.memory_samples import own_session

NONE, MEMORY, RANDOM, OTHERS = "no_memory", "memory", "same_contact_random", "other_contacts"
ROWS = (NONE, MEMORY, RANDOM, OTHERS)
ROW_TITLES = {
    NONE: "no memory",
    MEMORY: "memory",
    RANDOM: "control: same contact, random",
    OTHERS: "control: other contacts",
}
SEED = 0
BOOTSTRAP_ROUNDS = 1000

Losses = list[tuple[float, int]]


def row_blocks(
    store: MemoryStore, samples: list[Messages], origins: list[Origin], settings: RecallSettings = RecallSettings()
) -> dict[str, list[str | None]]:
    """Per row, per sample: the block its system prompt gets (None: the prompt as without memory)."""
    rng = random.Random(SEED)
    blocks: dict[str, list[str | None]] = {row: [] for row in ROWS}
    for sample, origin in zip(samples, origins, strict=True):
        session, prompt = own_session(origin), sample[:-1]
        key = store.contact_of(origin.chat)
        facts = store.facts(key) if key else []
        blocks[NONE].append(None)
        blocks[MEMORY].append(recall(store, origin.chat, prompt, settings, exclude_session=session))
        blocks[RANDOM].append(memory_block(store.random_of(key, settings.k, rng, session), facts) if key else None)
        others = store.from_others(key, latest_query(prompt), settings.k) if key else []
        blocks[OTHERS].append(memory_block(others, facts) if key else None)
    return blocks


def with_blocks(samples: list[Messages], blocks: list[str | None]) -> list[Messages]:
    return [with_memory(sample, block) for sample, block in zip(samples, blocks, strict=True)]


def _gain(before: Losses, after: Losses) -> float:
    """How much lower `after`'s perplexity is, as a share of `before`'s (0.1 = 10% lower)."""
    return 1 - perplexity_of(after) / perplexity_of(before)


def compare(before: Losses, after: Losses, rng: random.Random) -> dict[str, float]:
    """The gain and its 95% bootstrap interval, resampling dev samples (paired: one draw for both rows)."""
    n = len(before)
    draws = []
    for _ in range(BOOTSTRAP_ROUNDS):
        picks = [rng.randrange(n) for _ in range(n)]
        draws.append(_gain([before[i] for i in picks], [after[i] for i in picks]))
    draws.sort()
    return {"gain": _gain(before, after), "low": draws[int(0.025 * len(draws))], "high": draws[int(0.975 * len(draws))]}


def verdict(losses: dict[str, Losses]) -> dict[str, Any]:
    rng = random.Random(SEED)
    against = {row: compare(losses[row], losses[MEMORY], rng) for row in (NONE, RANDOM, OTHERS)}
    helped = against[NONE]["low"] > 0
    beats = [row for row in (RANDOM, OTHERS) if against[row]["gain"] > 0]
    main = against[NONE]
    text = (
        f"memory {'lowers' if main['gain'] > 0 else 'does not lower'} the perplexity of the owner's replies: "
        f"{main['gain']:+.1%} against no memory (95% bootstrap interval {main['low']:+.1%} to {main['high']:+.1%}, "
        f"{len(losses[NONE])} dev samples); "
        + ("it helped" if helped else "no clear effect")
        + f"; beats {len(beats)} of 2 controls"
        + (f" ({', '.join(ROW_TITLES[r] for r in beats)})" if beats else "")
    )
    return {"helped": helped, "beats_controls": len(beats) == 2, "against": against, "text": text}
