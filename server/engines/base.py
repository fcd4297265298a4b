"""The engine interface the API and the evaluation both generate through.

Prompts reach an engine as token ids, already rendered by `wechat_twin.server.prompting`, so the
server can count and length-check them itself and every engine sees identical input.
"""

from __future__ import annotations

import abc
import enum
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class EngineRequestError(ValueError):
    """The engine refused a value of the request; `param` names the request field (a 400, not a 500)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class AdapterRef:
    """A loaded LoRA: `int_id` is the stable number vLLM needs, unique per name for the process."""

    name: str
    path: Path
    int_id: int


@dataclass(frozen=True)
class SamplingOptions:
    max_tokens: int  # no default: the server's reply budget (server/config.py) decides it, or the caller does
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0


@dataclass
class ChoiceDelta:
    """New text for one of the `n` choices since the previous delta."""

    index: int
    text: str
    completion_tokens: int
    finish_reason: str | None = None


@dataclass(frozen=True)
class EngineLoad:
    """What one engine core is doing now, in the terms of vLLM's scheduler gauges (the model-server protocol's).

    `running`: requests in the batch being generated; `waiting`: requests queued for it. `kv_cache_usage`: 0..1,
    how full the KV cache is. `running_adapters`/`waiting_adapters`: the adapters of those requests. `max_loras`:
    how many different adapters one batch can hold. `updated_at`: when this was true (Unix time).
    """

    running: int = 0
    waiting: int = 0
    kv_cache_usage: float = 0.0
    running_adapters: tuple[str, ...] = ()
    waiting_adapters: tuple[str, ...] = ()
    max_loras: int = 0
    updated_at: float = field(default_factory=time.time)


class EngineKind(enum.Enum):
    """`--engine`: auto prefers vLLM when it imports."""

    AUTO = "auto"
    VLLM = "vllm"
    TRANSFORMERS = "transformers"


class DType(enum.Enum):
    """Weights' precision, for `twin-server --dtype` and `twin-train export --dtype` alike.

    What auto means is each command's own (its help says): the model's own, or float32 on a CPU for serving.
    """

    AUTO = "auto"
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"


class ExecutorBackend(enum.Enum):
    """`--distributed-executor-backend`: vLLM's worker processes on this machine (mp) or a Ray cluster (ray)."""

    MP = "mp"
    RAY = "ray"


@dataclass
class EngineOptions:
    """Pass-through settings; each engine uses those that mean something to it."""

    max_model_len: int | None = None
    dtype: DType | str = DType.AUTO
    device: str = "auto"
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    distributed_executor_backend: ExecutorBackend | None = None  # None: vLLM picks (mp on one node, ray beyond)
    max_lora_rank: int = 16
    max_loras: int = 4
    max_cpu_loras: int | None = None  # None: vLLM's default, --max-loras
    enforce_eager: bool = False
    max_num_seqs: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Engine(abc.ABC):
    """One base model plus any number of LoRA adapters, generating concurrently."""

    name: str
    max_model_len: int
    max_lora_rank: int

    @property
    @abc.abstractmethod
    def tokenizer(self) -> Any:
        """The base model's Hugging Face tokenizer (chat template, token counts)."""

    @abc.abstractmethod
    def stream(
        self,
        prompt_token_ids: list[int],
        options: SamplingOptions,
        request_id: str,
        adapter: AdapterRef | None,
    ) -> AsyncIterator[list[ChoiceDelta]]:
        """Yield deltas as they are produced; stopping iteration early must abort the request."""

    @abc.abstractmethod
    async def abort(self, request_id: str) -> None:
        """Stop a request's generation and free its resources."""

    @abc.abstractmethod
    async def load_adapter(self, adapter: AdapterRef) -> None:
        """Make an adapter usable; raise ValueError if it does not fit this base model."""

    @abc.abstractmethod
    async def unload_adapter(self, adapter: AdapterRef) -> None:
        """Forget an adapter and free its memory."""

    async def resident_adapters(self) -> set[str]:
        """The adapters in the engine's memory now (at most --max-cpu-loras, unless more generate at once)."""
        return set()

    def is_dead(self) -> bool:
        """True once the engine can serve nothing more (its worker died); the server then restarts it."""
        return False

    def queue_depth(self) -> int:
        """Requests admitted but not finished; feeds the queue-full check and metrics."""
        return 0

    def load(self) -> dict[int, EngineLoad]:
        """Each engine core's load by its index (several with vLLM's data parallelism), for `/metrics`.

        An engine that knows no better reports every unfinished request as running."""
        return {0: EngineLoad(running=self.queue_depth())}

    @abc.abstractmethod
    async def shutdown(self) -> None:
        """Release the model and any worker process."""


async def collect(stream: AsyncIterator[list[ChoiceDelta]], n: int) -> list[ChoiceDelta]:
    """Fold a stream into one final ChoiceDelta per choice (non-streaming responses, evaluation)."""
    finals = [ChoiceDelta(index=i, text="", completion_tokens=0) for i in range(n)]
    async for deltas in stream:
        for delta in deltas:
            final = finals[delta.index]
            final.text += delta.text
            final.completion_tokens += delta.completion_tokens
            final.finish_reason = delta.finish_reason or final.finish_reason
    return finals
