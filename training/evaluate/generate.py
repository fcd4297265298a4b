"""Replies to the dev prompts through the server's own engine and prompt code.

Same `create_engine`, same `build_chat` (with the adapter's persona from `twin.json`), same
`render_chat_prompt`: a reply scored here is the reply a client of the server would get.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from tqdm import tqdm

from wechat_twin.memory.block import with_memory
from wechat_twin.server.engines import AdapterRef, EngineOptions, SamplingOptions, collect, create_engine
from wechat_twin.server.engines.base import Engine, EngineKind
from wechat_twin.server.prompting import build_chat, render_chat_prompt
from wechat_twin.training.common.lora import VLLM_LORA_RANKS
from wechat_twin.training.evaluate.tuning import SamplingSearch, replies_key

CONCURRENT_REQUESTS = 8
EVAL_MAX_MODEL_LEN = 2048


def _engine_options(adapter_path: Path) -> EngineOptions:
    """Room for this adapter's rank, and fp32 on CPU as the server runs there."""
    import torch

    rank = json.loads((adapter_path / "adapter_config.json").read_text(encoding="utf-8")).get("r", 16)
    max_rank = next((r for r in VLLM_LORA_RANKS if r >= rank), rank)
    dtype = "auto" if torch.cuda.is_available() else "float32"
    return EngineOptions(
        max_model_len=EVAL_MAX_MODEL_LEN, max_lora_rank=max_rank, max_loras=1, dtype=dtype, enforce_eager=True
    )


async def _replies(
    engine: Engine,
    prompts: list[list[dict[str, str]]],
    adapter: AdapterRef | None,
    persona: str | None,
    options: SamplingOptions,
    progress: tqdm,
    blocks: list[str | None] | None = None,
) -> list[str]:
    slots = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def one(prompt: list[dict[str, str]], block: str | None) -> str:
        async with slots:
            ids = render_chat_prompt(engine.tokenizer, with_memory(build_chat(prompt, persona), block))
            finals = await collect(engine.stream(ids, options, uuid.uuid4().hex, adapter), 1)
            progress.update(1)
            return finals[0].text

    return list(
        await asyncio.gather(*(one(p, b) for p, b in zip(prompts, blocks or [None] * len(prompts), strict=True)))
    )


def generate_replies(
    engine_name: EngineKind | str,
    base_path: Path,
    adapter_path: Path,
    persona: str | None,
    prompts: list[list[dict[str, str]]],
    max_tokens: int,
    memory_blocks: dict[str, list[str | None]] | None = None,
    search: SamplingSearch | None = None,
) -> dict[str, list[str]]:
    """{"base": [...], "adapter": [...]} at temperature 0 from one engine, plus the adapter's replies with each
    of `memory_blocks`' per-prompt blocks (served as the server serves a request that names the contact), and
    for `search`: sampled at each grid point on each grid seed, then the defaults and the winner on the fresh
    seeds (keys from `replies_key`). One engine for all: the winner is known only after the grid.

    As served: a dev conversation's own system prompt is kept for both; where it has none, the
    adapter gets its twin.json persona and the base gets nothing.
    """

    passes = 2 + len(memory_blocks or {}) + (search.most_passes if search else 0)

    async def run(progress: tqdm) -> dict[str, list[str]]:
        engine = create_engine(engine_name, str(base_path), _engine_options(adapter_path))
        adapter = AdapterRef(adapter_path.name, adapter_path, 1)
        try:
            await engine.load_adapter(adapter)
            options = SamplingOptions(max_tokens=max_tokens, temperature=0.0)
            replies = {
                "base": await _replies(engine, prompts, None, None, options, progress),
                "adapter": await _replies(engine, prompts, adapter, persona, options, progress),
            }
            for name, blocks in (memory_blocks or {}).items():
                replies[name] = await _replies(engine, prompts, adapter, persona, options, progress, blocks)
            if search is None:
                return replies

            async def sample(index: int, seed: int) -> None:
                sampled = SamplingOptions(max_tokens=max_tokens, seed=seed, **search.points[index])
                replies[replies_key(index, seed)] = await _replies(engine, prompts, adapter, persona, sampled, progress)

            for index in range(len(search.points)):
                for seed in search.grid_seeds:
                    await sample(index, seed)
            rechecked = search.rechecked(search.best(replies))
            progress.total -= (2 - len(rechecked)) * search.seeds * len(prompts)
            for index in rechecked:
                for seed in search.recheck_seeds:
                    await sample(index, seed)
            return replies
        finally:
            await engine.shutdown()

    with tqdm(total=passes * len(prompts), desc="replies", unit="reply", leave=False) as progress:
        return asyncio.run(run(progress))
