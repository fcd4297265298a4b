"""Replies to the dev prompts through the server's own engine and prompt code."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from server.engines import AdapterRef, EngineOptions, SamplingOptions, collect, create_engine
from server.prompting import build_chat, render_chat_prompt


async def _generate(engine, prompts, adapter, persona, options) -> list[str]:
    replies = []
    for prompt in prompts:
        ids = render_chat_prompt(engine.tokenizer, build_chat(prompt, persona))
        finals = await collect(engine.stream(ids, options, uuid.uuid4().hex, adapter), 1)
        replies.append(finals[0].text)
    return replies


def generate_replies(engine_name: str, base_path: Path, adapter_path: Path, persona: str | None,
                     prompts: list[list[dict[str, str]]], max_tokens: int) -> dict[str, list[str]]:  # fmt: skip
    """{"base": [...], "adapter": [...]} at temperature 0, one engine for both."""

    async def run() -> dict[str, list[str]]:
        engine = create_engine(engine_name, str(base_path), EngineOptions(max_lora_rank=64, enforce_eager=True,
                                                                          dtype="float32"))  # fmt: skip
        adapter = AdapterRef(adapter_path.name, adapter_path, 1)
        try:
            await engine.load_adapter(adapter)
            options = SamplingOptions(max_tokens=max_tokens, temperature=0.0)
            return {
                "base": await _generate(engine, prompts, None, None, options),
                "adapter": await _generate(engine, prompts, adapter, persona, options),
            }
        finally:
            await engine.shutdown()

    return asyncio.run(run())
