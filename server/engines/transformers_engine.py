"""transformers + peft: several adapters loaded at once, the adapter picked per request.

For machines without vLLM. Requests are generated one at a time on a worker thread
(no continuous batching), so a long generation delays the ones queued behind it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from wechat_twin.server.engines.base import AdapterRef, ChoiceDelta, DType, Engine, EngineOptions, SamplingOptions

_BASE = "__base__"


class _PenaltyProcessor:
    """OpenAI presence/frequency penalties, which transformers' generate does not offer."""

    def __init__(self, prompt_len: int, presence: float, frequency: float) -> None:
        self.prompt_len = prompt_len
        self.presence = presence
        self.frequency = frequency

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        generated = input_ids[:, self.prompt_len :]
        if generated.shape[1] == 0:
            return scores
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)


class _QueueStreamer:
    """Hands each generation step's new token ids from the worker thread to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        self.loop = loop
        self.queue = queue
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.loop.call_soon_threadsafe(self.queue.put_nowait, value.reshape(-1).tolist())

    def end(self) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)


class TransformersEngine(Engine):
    name = "transformers"

    def __init__(self, model_path: str, options: EngineOptions) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        wanted = DType(options.dtype)
        dtype = torch.float32 if wanted in (DType.AUTO, DType.FLOAT32) else getattr(torch, wanted.value)
        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        self._tokenizer = AutoTokenizer.from_pretrained(model_path)
        self._base = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(self._device).eval()
        self._model: Any = self._base
        self._adapters: dict[str, AdapterRef] = {}
        config_len = getattr(self._base.config, "max_position_embeddings", 2048)
        self.max_model_len = min(options.max_model_len or config_len, config_len)
        self.max_lora_rank = options.max_lora_rank
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")
        self._cancelled: set[str] = set()
        self._unfinished = 0
        self._lock = threading.Lock()

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def _stop_ids(self) -> list[int]:
        eos = self._base.generation_config.eos_token_id
        ids = eos if isinstance(eos, list) else [eos]
        return [i for i in ids if i is not None]

    def _generate(
        self,
        prompt_token_ids: list[int],
        options: SamplingOptions,
        request_id: str,
        adapter: AdapterRef | None,
        streamer: _QueueStreamer,
    ) -> None:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        cancelled = self._cancelled

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), request_id in cancelled, dtype=torch.bool)

        inputs = torch.tensor([prompt_token_ids], device=self._device)
        sample = options.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": options.max_tokens,
            "do_sample": sample,
            "num_return_sequences": options.n,
            "streamer": streamer,
            "pad_token_id": self._tokenizer.pad_token_id or self._stop_ids()[0],
            "eos_token_id": self._stop_ids(),
            "stopping_criteria": StoppingCriteriaList([_Cancelled()]),
        }
        if sample:
            kwargs.update(temperature=options.temperature, top_p=options.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if options.stop:
            kwargs.update(stop_strings=list(options.stop), tokenizer=self._tokenizer)
        if options.presence_penalty or options.frequency_penalty:
            kwargs["logits_processor"] = LogitsProcessorList(
                [_PenaltyProcessor(len(prompt_token_ids), options.presence_penalty, options.frequency_penalty)]
            )
        if self._adapters:
            kwargs["adapter_names"] = [adapter.name if adapter else _BASE] * options.n
        with self._lock:
            try:
                if options.seed is not None:
                    torch.manual_seed(options.seed)
                with torch.inference_mode():
                    self._model.generate(inputs, attention_mask=torch.ones_like(inputs), **kwargs)
            finally:
                self._cancelled.discard(request_id)
                self._unfinished -= 1
                streamer.end()

    async def stream(
        self,
        prompt_token_ids: list[int],
        options: SamplingOptions,
        request_id: str,
        adapter: AdapterRef | None,
    ) -> AsyncIterator[list[ChoiceDelta]]:
        if adapter is not None and adapter.name not in self._adapters:
            raise ValueError(f"adapter '{adapter.name}' is not loaded")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        streamer = _QueueStreamer(loop, queue)
        self._unfinished += 1
        job = loop.run_in_executor(
            self._worker, self._generate, prompt_token_ids, options, request_id, adapter, streamer
        )
        stop_ids = set(self._stop_ids())
        tokens: list[list[int]] = [[] for _ in range(options.n)]
        sent_text = [""] * options.n
        done = [False] * options.n
        try:
            while (step := await queue.get()) is not None:
                deltas = []
                for index, token in enumerate(step):
                    if done[index]:
                        continue
                    if token in stop_ids:
                        done[index] = True
                        deltas.append(ChoiceDelta(index, "", 0, "stop"))
                        continue
                    tokens[index].append(token)
                    text = self._tokenizer.decode(tokens[index], skip_special_tokens=True)
                    stopped = next((s for s in options.stop if s in text), None)
                    if stopped is not None:
                        text = text[: text.index(stopped)]
                        done[index] = True
                    elif len(tokens[index]) >= options.max_tokens:
                        done[index] = True
                    if text.endswith("\ufffd") and not done[index]:
                        deltas.append(ChoiceDelta(index, "", 1))
                        continue
                    finish = ("stop" if stopped is not None else "length") if done[index] else None
                    deltas.append(ChoiceDelta(index, text[len(sent_text[index]) :], 1, finish))
                    sent_text[index] = text
                if deltas:
                    yield deltas
            await job
            leftovers = [ChoiceDelta(i, "", 0, "stop") for i in range(options.n) if not done[i]]
            if leftovers:
                yield leftovers
        finally:
            if not job.done():
                self._cancelled.add(request_id)

    async def abort(self, request_id: str) -> None:
        self._cancelled.add(request_id)

    def _load_sync(self, adapter: AdapterRef) -> None:
        from peft import PeftModel

        with self._lock:
            if self._model is self._base:
                self._model = PeftModel.from_pretrained(self._base, str(adapter.path), adapter_name=adapter.name)
            else:
                self._model.load_adapter(str(adapter.path), adapter_name=adapter.name)
            self._model.eval()

    async def load_adapter(self, adapter: AdapterRef) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._load_sync, adapter)
        except Exception as exc:
            raise ValueError(f"could not load adapter '{adapter.name}' from {adapter.path}: {exc}") from exc
        self._adapters[adapter.name] = adapter

    def _unload_sync(self, adapter: AdapterRef) -> None:
        with self._lock:
            self._model.delete_adapter(adapter.name)

    async def unload_adapter(self, adapter: AdapterRef) -> None:
        if self._adapters.pop(adapter.name, None) is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._unload_sync, adapter)

    def queue_depth(self) -> int:
        """Requests waiting or generating; drops as soon as an aborted generation stops."""
        return self._unfinished

    async def shutdown(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
