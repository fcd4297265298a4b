"""A small engine for contract tests that need no model: the embedded model's tokenizer, scripted replies.

It implements `wechat_twin.server.engines.base.Engine` as the real engines do (deltas per choice,
`finish_reason` "length" at `max_tokens`, aborts, adapters), and its knobs make the failures that a
real engine shows only rarely happen on demand: a death, an exception mid-stream, a refused value,
a slow token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from wechat_twin.server.engines.base import (
    AdapterRef,
    ChoiceDelta,
    Engine,
    EngineOptions,
    EngineRequestError,
    SamplingOptions,
)

REPLY = ["Hello", " there", "!", " How", " are", " you", "?"]


@dataclass
class Knobs:
    """What the next requests will meet; shared by every engine a factory builds (restarts included)."""

    fail_after_deltas: int | None = None
    refuse: tuple[str, str] | None = None
    token_delay_s: float = 0.0
    fail_to_start: bool = False
    start_delay_s: float = 0.0
    reply_tokens: int | None = None  # a reply this long (REPLY repeated), for streams that must fill buffers
    reply: list[str] | None = None  # the reply's pieces instead of REPLY (a draft the bridge must hold)
    built: list[FakeEngine] = field(default_factory=list)


class FakeEngine(Engine):
    name = "fake"

    def __init__(self, model_path: str, options: EngineOptions, knobs: Knobs) -> None:
        from transformers import AutoTokenizer

        time.sleep(knobs.start_delay_s)
        if knobs.fail_to_start:
            raise RuntimeError("the fake engine was told not to start")
        self._tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.max_model_len = options.max_model_len or 2048
        self.max_lora_rank = options.max_lora_rank
        self.knobs = knobs
        self.dead = False
        self.loaded: dict[str, AdapterRef] = {}
        self.running: set[str] = set()
        self.seen: list[SamplingOptions] = []
        self.prompts: list[list[int]] = []  # the token ids of every prompt received, to read what a key's prompt held
        knobs.built.append(self)

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    async def stream(
        self, prompt_token_ids: list[int], options: SamplingOptions, request_id: str, adapter: AdapterRef | None
    ) -> AsyncIterator[list[ChoiceDelta]]:
        if self.dead:
            raise RuntimeError("engine core is gone")
        if self.knobs.refuse is not None:
            message, param = self.knobs.refuse
            raise EngineRequestError(message, param)
        self.seen.append(options)
        self.prompts.append(list(prompt_token_ids))
        self.running.add(request_id)
        try:
            pieces = self.knobs.reply or REPLY
            length = self.knobs.reply_tokens or len(pieces)
            steps = min(options.max_tokens, length)
            for step in range(steps):
                if self.knobs.fail_after_deltas is not None and step >= self.knobs.fail_after_deltas:
                    raise RuntimeError("the fake engine failed mid-stream")
                await asyncio.sleep(self.knobs.token_delay_s)
                if self.dead:
                    raise RuntimeError("engine core is gone")
                last = step == steps - 1
                reason = ("length" if options.max_tokens <= length else "stop") if last else None
                yield [
                    ChoiceDelta(index=i, text=pieces[step % len(pieces)], completion_tokens=1, finish_reason=reason)
                    for i in range(options.n)
                ]
        finally:
            self.running.discard(request_id)

    async def abort(self, request_id: str) -> None:
        self.running.discard(request_id)

    async def load_adapter(self, adapter: AdapterRef) -> None:
        self.loaded[adapter.name] = adapter

    async def unload_adapter(self, adapter: AdapterRef) -> None:
        self.loaded.pop(adapter.name, None)

    def is_dead(self) -> bool:
        return self.dead

    def queue_depth(self) -> int:
        return len(self.running)

    async def shutdown(self) -> None:
        self.dead = True
