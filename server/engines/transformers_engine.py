"""transformers + peft with continuous batching: concurrent requests, each with its own adapter, in one batch.

For machines without vLLM (macOS, Windows, some ARM Linux). One scheduler thread owns the model: each
step it lets waiting requests join the running batch (their prompts prefilled together, their KV cache
merged into the batch's, `batch_cache`), runs one decoding step for every row, and drops finished or
aborted rows. peft applies each row's own adapter (`adapter_names=`, base rows get none), so base and
clones share every forward pass. Rows are left-padded and padding is masked, so a greedy reply does not
depend on which requests it was batched with. Sampling (temperature, top-p, penalties, seeds, stop
strings) is per row: a request's seed drives its own generator, whoever else is in the batch. As vLLM does, it
keeps at most `--max-cpu-loras` adapters in peft, unloading the least recently used one that no request is
using, and reads an evicted adapter back from its folder when a request names it again.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from wechat_twin.server.engines import batch_cache
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
from wechat_twin.server.engines.device import Device, pick_device, probe, serving_dtype

_BASE = "__base__"
DEFAULT_MAX_BATCH = 32
# Temperatures below this sample greedily, as in vLLM: dividing float32 logits by a smaller one (the API allows
# 5e-324) gives 0/0 at the best token, and so NaN probabilities.
GREEDY_BELOW = 1e-5


@dataclass
class _Request:
    request_id: str
    prompt: list[int]
    options: SamplingOptions
    adapter_name: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue
    generator: Any
    live_rows: int = 0


@dataclass(frozen=True)
class _Batch:
    """The running batch as the scheduler thread last left it, swapped whole so that a reader sees one state."""

    requests: tuple[_Request, ...] = ()
    kv_slots: int = 0  # rows x padded length of the batch's KV cache


@dataclass
class _Row:
    """One of a request's `n` choices while it generates."""

    request: _Request
    index: int
    tokens: list[int] = field(default_factory=list)
    sent_text: str = ""
    done: bool = False


class TransformersEngine(Engine):
    name = "transformers"

    def __init__(self, model_path: str, options: EngineOptions) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        found = probe()
        device = pick_device(Device(options.device), found)
        wanted = DType(options.dtype)
        dtype_name = serving_dtype(device, found) if wanted is DType.AUTO else wanted.value
        self._device = device.value
        self._tokenizer = AutoTokenizer.from_pretrained(model_path)
        self._base = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype_name))
        self._base = self._base.to(self._device).eval()
        self._model: Any = self._base
        # Servable adapters (each loaded once, so known to fit), and those in peft now, least recently used first:
        # at most --max-cpu-loras (as vLLM keeps), unless more are generating at once; one evicted is read back.
        self._adapters: dict[str, AdapterRef] = {}
        self._resident: OrderedDict[str, AdapterRef] = OrderedDict()
        self._max_resident = options.max_cpu_loras or options.max_loras
        self._residency = asyncio.Lock()
        config_len = getattr(self._base.config, "max_position_embeddings", 2048)
        self.max_model_len = min(options.max_model_len or config_len, config_len)
        self.max_lora_rank = options.max_lora_rank
        self._max_batch = options.max_num_seqs or DEFAULT_MAX_BATCH
        self._stop_ids = self._eos_ids()
        self._model_lock = threading.Lock()
        self._wake = threading.Condition()
        self._waiting: list[_Request] = []
        self._cancelled: set[str] = set()
        self._live: dict[str, _Request] = {}
        self._closing = False
        self._rows: list[_Row] = []
        self._cache: Any = None
        self._mask: Any = None
        self._batch = _Batch()
        self._scheduler = threading.Thread(target=self._run, name="transformers-batch", daemon=True)
        self._scheduler.start()

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def _eos_ids(self) -> set[int]:
        eos = self._base.generation_config.eos_token_id
        ids = eos if isinstance(eos, list) else [eos]
        return {i for i in ids if i is not None}

    async def stream(
        self,
        prompt_token_ids: list[int],
        options: SamplingOptions,
        request_id: str,
        adapter: AdapterRef | None,
    ) -> AsyncIterator[list[ChoiceDelta]]:
        import torch

        if adapter is not None:
            await self._make_resident(adapter)
        # From here to `_live` nothing awaits: an adapter made resident cannot be evicted before it counts as in use.
        generator = torch.Generator(device=self._device)
        if options.seed is not None:
            generator.manual_seed(options.seed)
        else:
            generator.seed()
        request = _Request(
            request_id,
            list(prompt_token_ids),
            options,
            adapter.name if adapter else _BASE,
            asyncio.get_running_loop(),
            asyncio.Queue(),
            generator,
        )
        with self._wake:
            self._live[request_id] = request
            self._waiting.append(request)
            self._wake.notify()
        finished = False
        try:
            while (item := await request.queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
            finished = True
        finally:
            if not finished:
                await self.abort(request_id)

    async def abort(self, request_id: str) -> None:
        with self._wake:
            if request_id in self._live:
                self._cancelled.add(request_id)
                self._wake.notify()

    # The scheduler thread: everything below runs on it and is the only code that touches the batch.

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._waiting or self._rows or self._closing):
                    self._wake.wait()
                if self._closing:
                    return
                self._drop_cancelled_waiting()
                joining = self._admit()
                self._publish(joining)
            try:
                with self._model_lock:
                    if joining:
                        self._prefill(joining)
                    elif self._rows:
                        self._decode()
            except Exception as exc:
                self._fail({id(r): r for r in [*joining, *(row.request for row in self._rows)]}.values(), exc)
                continue
            self._retire_rows()

    def _fail(self, requests: Any, exc: Exception) -> None:
        """A failed step ends every request in it with the error, and the scheduler carries on with an empty batch."""
        self._rows, self._cache, self._mask = [], None, None
        self._publish()
        for request in requests:
            request.loop.call_soon_threadsafe(request.queue.put_nowait, exc)
            self._finish(request)

    def _drop_cancelled_waiting(self) -> None:
        for request in [r for r in self._waiting if r.request_id in self._cancelled]:
            self._waiting.remove(request)
            self._finish(request)

    def _admit(self) -> list[_Request]:
        """Waiting requests that fit in the batch now (one bigger than the whole batch runs alone)."""
        if self._rows and not batch_cache.can_merge(self._cache):
            return []
        room = self._max_batch - len(self._rows)
        joining = []
        while self._waiting and (self._waiting[0].options.n <= room or not (self._rows or joining)):
            request = self._waiting.pop(0)
            room -= request.options.n
            joining.append(request)
        return joining

    def _forward(self, input_ids: Any, mask: Any, cache: Any, adapter_names: list[str]) -> Any:
        import torch

        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, -input_ids.shape[1] :]
        # Once peft wraps the base, every row names its adapter: without names peft would apply the active one to all.
        kwargs = {"adapter_names": adapter_names} if self._model is not self._base else {}
        with torch.inference_mode():
            out = self._model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
                **kwargs,
            )
        return out.logits[:, -1, :].float()

    def _prefill(self, joining: list[_Request]) -> None:
        import torch
        from transformers import DynamicCache

        rows = [_Row(request, i) for request in joining for i in range(request.options.n)]
        for request in joining:
            request.live_rows = request.options.n
        width = max(len(row.request.prompt) for row in rows)
        pad_id = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else min(self._stop_ids)
        ids = torch.tensor(
            [[pad_id] * (width - len(r.request.prompt)) + r.request.prompt for r in rows], device=self._device
        )
        mask = torch.tensor(
            [[0] * (width - len(r.request.prompt)) + [1] * len(r.request.prompt) for r in rows], device=self._device
        )
        cache = DynamicCache(config=self._base.config)
        logits = self._forward(ids, mask, cache, [r.request.adapter_name for r in rows])
        if self._rows:
            self._mask = batch_cache.merge(self._cache, self._mask, cache, mask)
        else:
            self._cache, self._mask = cache, mask
        self._rows.extend(rows)
        self._advance(rows, logits)

    def _decode(self) -> None:
        import torch

        last = torch.tensor([[row.tokens[-1]] for row in self._rows], device=self._device)
        self._mask = torch.nn.functional.pad(self._mask, (0, 1), value=1)
        logits = self._forward(last, self._mask, self._cache, [r.request.adapter_name for r in self._rows])
        self._advance(self._rows, logits)

    def _advance(self, rows: list[_Row], logits: Any) -> None:
        """Sample each row's next token, then send every request its choices' new text in one message."""
        import torch

        by_request: dict[int, list[ChoiceDelta]] = {}
        failed: set[int] = set()
        nan_rows = torch.isnan(logits).any(dim=-1).tolist()  # one check for the whole batch, not one per row
        for row, row_logits, is_nan in zip(rows, logits, nan_rows, strict=True):
            if id(row.request) in failed:
                continue
            try:
                if is_nan:
                    raise RuntimeError(f"the model gave NaN logits for {row.request.request_id} (a broken adapter?)")
                token = self._sample(row, row_logits)
            except RuntimeError as exc:
                failed.add(id(row.request))
                self._end_with_error(row.request, exc)
                continue
            delta = self._step(row, token)
            if delta is not None:
                by_request.setdefault(id(row.request), []).append(delta)
        for row in rows:
            deltas = by_request.pop(id(row.request), None)
            if deltas and id(row.request) not in failed:
                row.request.loop.call_soon_threadsafe(row.request.queue.put_nowait, deltas)

    def _end_with_error(self, request: _Request, exc: Exception) -> None:
        """A request that cannot be sampled (NaN logits from a broken adapter) fails alone; its batch goes on."""
        request.loop.call_soon_threadsafe(request.queue.put_nowait, exc)
        with self._wake:
            self._cancelled.add(request.request_id)

    def _sample(self, row: _Row, logits: Any) -> int:
        import torch

        options = row.request.options
        if (options.presence_penalty or options.frequency_penalty) and row.tokens:
            counts = torch.bincount(torch.tensor(row.tokens, device=logits.device), minlength=logits.shape[-1])
            counts = counts[: logits.shape[-1]].to(logits.dtype)
            logits = logits - options.frequency_penalty * counts - options.presence_penalty * (counts > 0)
        if options.repetition_penalty != 1.0:
            from transformers import RepetitionPenaltyLogitsProcessor

            # As in vLLM: the prompt's tokens count as seen, not only the reply's.
            seen = torch.tensor([row.request.prompt + row.tokens], device=logits.device)
            logits = RepetitionPenaltyLogitsProcessor(options.repetition_penalty)(seen, logits[None])[0]
        if options.temperature < GREEDY_BELOW:
            return int(logits.argmax())
        probs = torch.softmax(logits / options.temperature, dim=-1)
        if options.top_p < 1.0:
            ordered, order = probs.sort(descending=True)
            outside = ordered.cumsum(-1) - ordered > options.top_p
            probs = probs.scatter(0, order, ordered.masked_fill(outside, 0.0))
        return int(torch.multinomial(probs, 1, generator=row.request.generator))

    def _step(self, row: _Row, token: int) -> ChoiceDelta | None:
        """Apply one sampled token to a row: end-of-sequence, stop strings, the length limit, streamed text."""
        options = row.request.options
        if token in self._stop_ids:
            row.done = True
            # The end-of-turn token was generated: it counts, as vLLM counts it.
            return ChoiceDelta(row.index, "", 1, "stop")
        row.tokens.append(token)
        text = self._tokenizer.decode(row.tokens, skip_special_tokens=True)
        stopped = next((s for s in options.stop if s in text), None)
        if stopped is not None:
            text = text[: text.index(stopped)]
        row.done = stopped is not None or len(row.tokens) >= options.max_tokens
        if text.endswith("\ufffd") and not row.done:
            return ChoiceDelta(row.index, "", 1)
        finish = ("stop" if stopped is not None else "length") if row.done else None
        delta = ChoiceDelta(row.index, text[len(row.sent_text) :], 1, finish)
        row.sent_text = text
        return delta

    def _retire_rows(self) -> None:
        with self._wake:
            cancelled = set(self._cancelled)
        keep = [i for i, row in enumerate(self._rows) if not row.done and row.request.request_id not in cancelled]
        if len(keep) == len(self._rows):
            self._publish()
            return
        ended = []
        for row in self._rows:
            if row.done or row.request.request_id in cancelled:
                row.request.live_rows -= 1
                if row.request.live_rows == 0:
                    ended.append(row.request)
        self._rows = [self._rows[i] for i in keep]
        if self._rows:
            self._mask = batch_cache.keep_rows(self._cache, self._mask, keep)
        else:
            self._cache = self._mask = None
        self._publish()
        for request in ended:  # after the batch shrank: a caller that heard the end sees the load without it
            self._finish(request)

    def _publish(self, joining: list[_Request] | None = None) -> None:
        """The batch for `load`: its requests and its cache's size, counting the requests joining it now as in, with
        their prompts' cache (as vLLM counts a prompt's blocks once it schedules it, before the forward pass)."""
        joining = joining or []
        requests = {id(request): request for request in [*(row.request for row in self._rows), *joining]}
        rows, width = (self._mask.shape[0], self._mask.shape[1]) if self._mask is not None else (0, 0)
        if joining:
            rows += sum(request.options.n for request in joining)
            width = max(width, *(len(request.prompt) for request in joining))
        self._batch = _Batch(tuple(requests.values()), rows * width)

    def _finish(self, request: _Request) -> None:
        """Forgotten before its caller hears the end, so that a scrape after the reply no longer counts it."""
        with self._wake:
            self._cancelled.discard(request.request_id)
            self._live.pop(request.request_id, None)
        request.loop.call_soon_threadsafe(request.queue.put_nowait, None)

    def _in_use(self) -> set[str]:
        with self._wake:
            return {request.adapter_name for request in self._live.values()}

    async def _make_room(self) -> None:
        """Unload the least recently used adapters that no request is using until one more fits."""
        busy = self._in_use()
        idle = [name for name in self._resident if name not in busy]
        loop = asyncio.get_running_loop()
        for name in idle[: max(0, len(self._resident) + 1 - self._max_resident)]:
            await loop.run_in_executor(None, self._unload_sync, self._resident.pop(name))

    async def _make_resident(self, adapter: AdapterRef) -> None:
        if adapter.name in self._resident and adapter.name in self._adapters:
            # Evictions leave `_resident` before they await: one found here stays until its request is `_live`.
            self._resident.move_to_end(adapter.name)
            return
        async with self._residency:
            if adapter.name not in self._adapters:
                raise ValueError(f"adapter '{adapter.name}' is not loaded")
            if adapter.name in self._resident:
                self._resident.move_to_end(adapter.name)
                return
            await self._make_room()
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._load_sync, adapter)
            except Exception as exc:
                raise EngineRequestError(
                    f"adapter '{adapter.name}' could not be read back from {adapter.path}: {exc}", "model"
                ) from exc
            self._resident[adapter.name] = adapter

    def _load_sync(self, adapter: AdapterRef) -> None:
        from peft import PeftModel

        with self._model_lock:
            if self._model is self._base:
                self._model = PeftModel.from_pretrained(self._base, str(adapter.path), adapter_name=adapter.name)
            else:
                self._model.load_adapter(str(adapter.path), adapter_name=adapter.name)
            self._model.eval()

    async def load_adapter(self, adapter: AdapterRef) -> None:
        async with self._residency:
            await self._make_room()
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._load_sync, adapter)
            except Exception as exc:
                raise ValueError(f"could not load adapter '{adapter.name}' from {adapter.path}: {exc}") from exc
            self._resident[adapter.name] = adapter
            self._adapters[adapter.name] = adapter

    def _unload_sync(self, adapter: AdapterRef) -> None:
        with self._model_lock:
            self._model.delete_adapter(adapter.name)

    async def unload_adapter(self, adapter: AdapterRef) -> None:
        """New requests are refused at once; the ones already using the adapter finish with it first."""
        if self._adapters.pop(adapter.name, None) is None:
            return
        while adapter.name in self._in_use():
            await asyncio.sleep(0.05)
        async with self._residency:
            if self._resident.pop(adapter.name, None) is not None:
                await asyncio.get_running_loop().run_in_executor(None, self._unload_sync, adapter)

    async def resident_adapters(self) -> set[str]:
        return set(self._resident)

    def queue_depth(self) -> int:
        """Requests waiting or generating; drops as soon as an aborted request leaves the batch."""
        return len(self._live)

    def load(self) -> dict[int, EngineLoad]:
        """The batch and its queue as they stand now (read from the event loop while the scheduler thread runs).

        Running: requests admitted to the batch (prefilling or decoding); waiting: those not admitted yet.
        KV-cache usage: the token slots the batch's cache holds (rows x padded length: padding is memory all the
        same) over the most it may hold, `--max-num-seqs` rows of `max_model_len`; the cache grows as needed, with
        no fixed budget as vLLM's, so this is the fraction of that ceiling. `max_loras`: the adapters loaded, since
        peft keeps every one resident and any mix of them shares one batch.
        """
        with self._wake:
            waiting = list(self._waiting)
        batch = self._batch
        load = EngineLoad(
            running=len(batch.requests),
            waiting=len(waiting),
            kv_cache_usage=min(1.0, batch.kv_slots / (self._max_batch * self.max_model_len)),
            running_adapters=_adapter_names(list(batch.requests)),
            waiting_adapters=_adapter_names(waiting),
            max_loras=len(self._adapters),
        )
        return {0: load}

    async def shutdown(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        await asyncio.get_running_loop().run_in_executor(None, self._scheduler.join)


def _adapter_names(requests: list[_Request]) -> tuple[str, ...]:
    """The clones these requests use, each once, in their order (base-model requests use none)."""
    return tuple(dict.fromkeys(r.adapter_name for r in requests if r.adapter_name != _BASE))
