"""Running one request through the engine: admission, limits, timing, disconnects, SSE.

Chat and plain completions differ only in how the prompt is built and how chunks
are shaped; everything about running the generation lives here once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from wechat_twin.server.adapters.registry import ModelTarget
from wechat_twin.server.api.sampling import SamplingFields, Usage
from wechat_twin.server.auth import key_name
from wechat_twin.server.config import FALLBACK_MAX_TOKENS, REPLY_BUDGET_MARGIN, REPLY_BUDGET_SLACK, ServerSettings
from wechat_twin.server.engines.base import ChoiceDelta, EngineRequestError, SamplingOptions, collect
from wechat_twin.server.errors import OpenAIError, error_body

logger = logging.getLogger("wechat_twin.server.requests")

# What a client is told to wait while the engine restarts (vLLM on a CPU comes back in ~20 s).
ENGINE_RETRY_AFTER_S = 10
# How long a write may still take once a stream is past --request-timeout (its final error event).
STALLED_WRITE_GRACE_S = 1.0


@dataclass
class PreparedRequest:
    """A validated request with its prompt rendered, ready for the engine."""

    target: ModelTarget
    prompt_token_ids: list[int]
    options: SamplingOptions
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: int = field(default_factory=lambda: int(time.time()))
    started: float = field(default_factory=time.perf_counter)


def reply_budget(settings: ServerSettings, target: ModelTarget, requested: int | None) -> int:
    """Max new tokens before the context is considered: what was asked, else the server's or adapter's default.

    Never "until the context is full": an adapter that does not emit EOS would run for minutes.
    """
    if requested:
        return requested
    if settings.default_max_tokens:
        return settings.default_max_tokens
    card = target.adapter.card if target.adapter else None
    if card is not None and card.reply_tokens_p99:
        return math.ceil(card.reply_tokens_p99 * REPLY_BUDGET_MARGIN) + REPLY_BUDGET_SLACK
    return FALLBACK_MAX_TOKENS


def completion_budget(request: Request, budget: int, prompt_len: int) -> int:
    """The reply budget clamped to the context left; 400 if no room at all."""
    state = request.app.state
    room = state.engine.max_model_len - prompt_len
    if room <= 0:
        raise OpenAIError(
            400,
            f"This model's maximum context length is {state.engine.max_model_len} tokens; the prompt has "
            f"{prompt_len} tokens. Shorten the messages.",
            param="messages",
            code="context_length_exceeded",
        )
    return min(budget, room)


def prepare(
    request: Request, target: ModelTarget, fields: SamplingFields, prompt_token_ids: list[int], budget: int
) -> PreparedRequest:
    clamped = completion_budget(request, budget, len(prompt_token_ids))
    card = target.adapter.card if target.adapter else None
    tuned = card.sampling if card else None
    options = fields.sampling(clamped, tuned, request.app.state.settings.sampling_overrides_client)
    return PreparedRequest(target, prompt_token_ids, options)


def engine_unavailable() -> OpenAIError:
    return OpenAIError(
        503,
        "the engine stopped and is being restarted; retry shortly",
        code="engine_unavailable",
        headers={"Retry-After": str(ENGINE_RETRY_AFTER_S)},
    )


class Admission:
    """Bounds the requests in flight, in all and per key, so an overloaded server answers 429 instead of
    hanging, and one key (a friend's) cannot take every slot."""

    def __init__(self, limit: int, per_key_limit: int) -> None:
        self.limit = limit
        self.per_key_limit = per_key_limit
        self.in_flight = 0
        self.by_key: dict[str, int] = {}

    def enter(self, key: str) -> None:
        if self.in_flight >= self.limit:
            raise OpenAIError(
                429,
                f"the server is busy ({self.in_flight} requests in flight); retry shortly",
                code="queue_full",
                headers={"Retry-After": "1"},
            )
        if self.by_key.get(key, 0) >= self.per_key_limit:
            raise OpenAIError(
                429,
                f"this key has {self.per_key_limit} requests in flight (--max-pending-per-key); retry shortly",
                code="key_queue_full",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        self.by_key[key] = self.by_key.get(key, 0) + 1

    def leave(self, key: str) -> None:
        self.in_flight -= 1
        self.by_key[key] -= 1
        if not self.by_key[key]:
            del self.by_key[key]


async def _timed(stream: AsyncIterator[list[ChoiceDelta]], timeout_s: float) -> AsyncIterator[list[ChoiceDelta]]:
    """Each step awaited under the request's deadline and yielded outside it (a timeout left open across the
    yield would cancel whatever the consumer awaits). `timeout_at` arms a timer per step where `wait_for` made a
    task per step, that is per token of every stream."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    iterator = aiter(stream)
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    deltas = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise OpenAIError(504, f"generation took longer than {timeout_s:.0f} s", code="timeout") from exc
            yield deltas
    finally:
        await iterator.aclose()


class Generation:
    """One admitted request's run; counts tokens, records metrics, and always releases its slot."""

    def __init__(self, request: Request, prepared: PreparedRequest, route: str) -> None:
        self.request = request
        self.prepared = prepared
        self.route = route
        self.state = request.app.state
        self.model = prepared.target.served_name
        self.completion_tokens = 0
        self.first_token_at: float | None = None
        self.status = "200"
        self.key = key_name(request)
        if self.state.supervisor.check_dead():
            raise engine_unavailable()
        self.state.admission.enter(self.key)
        self.state.metrics.queue_depth.set(self.state.admission.in_flight)

    @property
    def usage(self) -> Usage:
        prompt = len(self.prepared.prompt_token_ids)
        return Usage(
            prompt_tokens=prompt, completion_tokens=self.completion_tokens, total_tokens=prompt + self.completion_tokens
        )

    async def deltas(self) -> AsyncIterator[list[ChoiceDelta]]:
        adapter = self.prepared.target.adapter
        options = self.prepared.options
        # Greedy choices are all the same reply: generate it once and copy it (vLLM refuses n > 1 when greedy).
        copies = options.n if options.temperature == 0 else 1
        stream = self.state.engine.stream(
            self.prepared.prompt_token_ids,
            replace(options, n=1) if copies > 1 else options,
            self.prepared.request_id,
            adapter.ref if adapter else None,
        )
        try:
            async for deltas in _timed(stream, self.state.settings.request_timeout_s):
                if self.first_token_at is None:
                    self.first_token_at = time.perf_counter()
                    self.state.metrics.ttft.labels(self.model).observe(self.first_token_at - self.prepared.started)
                if copies > 1:
                    deltas = [replace(d, index=i) for d in deltas for i in range(copies)]
                self.completion_tokens += sum(d.completion_tokens for d in deltas)
                yield deltas
        except OpenAIError as exc:
            self.status = str(exc.status)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            self.status = "499"
            raise
        except Exception as exc:
            error = self._engine_failure(exc)
            self.status = str(error.status)
            raise error from exc
        finally:
            self.finish()

    def _engine_failure(self, exc: Exception) -> OpenAIError:
        """What an engine's exception means to the client: its bad value (400), a dead engine (503), or ours."""
        if isinstance(exc, EngineRequestError):
            return OpenAIError(400, str(exc), param=exc.param, code="invalid_value")
        if self.state.supervisor.check_dead():
            return engine_unavailable()
        logger.error("request %s failed in the engine", self.prepared.request_id, exc_info=exc)
        return OpenAIError(500, f"internal error: {type(exc).__name__}", code="internal_error")

    def unexpected(self, exc: Exception) -> OpenAIError:
        """A bug of ours while shaping chunks: logged, counted as 500, and still told to the client."""
        logger.error("request %s failed", self.prepared.request_id, exc_info=exc)
        self.status = "500"
        self.finish()
        return OpenAIError(500, f"internal error: {type(exc).__name__}", code="internal_error")

    def abandon(self) -> None:
        """The response ended without running the generation (client gone before the first byte)."""
        if self.route != "":
            self.status = "499"
            self.finish()

    def finish(self) -> None:
        if self.route == "":
            return
        metrics = self.state.metrics
        metrics.requests.labels(self.route, self.model, self.status).inc()
        metrics.latency.labels(self.model).observe(time.perf_counter() - self.prepared.started)
        metrics.prompt_tokens.labels(self.model).inc(len(self.prepared.prompt_token_ids))
        metrics.completion_tokens.labels(self.model).inc(self.completion_tokens)
        self.state.admission.leave(self.key)
        metrics.queue_depth.set(self.state.admission.in_flight)
        logger.info(
            "request %s route=%s model=%s status=%s prompt_tokens=%d completion_tokens=%d latency=%.3fs",
            self.prepared.request_id,
            self.route,
            self.model,
            self.status,
            len(self.prepared.prompt_token_ids),
            self.completion_tokens,
            time.perf_counter() - self.prepared.started,
        )
        self.route = ""

    async def collect(self) -> list[ChoiceDelta]:
        """Run to the end, aborting if the client goes away (non-streaming responses)."""
        work = asyncio.ensure_future(collect(self.deltas(), self.prepared.options.n))
        while not work.done():
            await asyncio.wait({work}, timeout=0.5)
            if not work.done() and await self.request.is_disconnected():
                work.cancel()
                raise OpenAIError(499, "client disconnected")
        finals = work.result()
        for final in finals:
            final.finish_reason = final.finish_reason or "stop"
        return finals


def sse(payload: dict | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


async def sse_stream(
    generation: Generation,
    chunks: Callable[[list[ChoiceDelta]], list[dict]],
    final_usage: Callable[[Usage], dict] | None,
) -> AsyncIterator[str]:
    """SSE body: chunk per delta; any error becomes an error event in OpenAI's shape; always `[DONE]`."""
    try:
        async for deltas in generation.deltas():
            for payload in chunks(deltas):
                yield sse(payload)
        if final_usage is not None:
            yield sse(final_usage(generation.usage))
    except Exception as exc:
        error = exc if isinstance(exc, OpenAIError) else generation.unexpected(exc)
        yield sse(error_body(error.status, error.message, error.param, error.code))
    yield sse("[DONE]")


class GenerationStream(StreamingResponse):
    """An SSE response that gives the admission slot back however it ends, even if never iterated.

    Writes have the request's deadline too: a client that stops reading fills the socket's buffers and
    blocks the next write, which would otherwise keep its slot (and the engine's work) forever.
    """

    def __init__(self, generation: Generation, body: AsyncIterator[str], headers: dict[str, str]) -> None:
        super().__init__(body, media_type="text/event-stream", headers=headers)
        self.generation = generation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        timeout_s = self.generation.state.settings.request_timeout_s
        deadline = loop.time() + timeout_s - (time.perf_counter() - self.generation.prepared.started)

        async def send_by_deadline(message: Message) -> None:
            # Past the deadline the last event (the 504) still gets a moment to leave.
            await asyncio.wait_for(send(message), timeout=max(deadline - loop.time(), STALLED_WRITE_GRACE_S))

        try:
            await super().__call__(scope, receive, send_by_deadline)
        except TimeoutError:
            logger.warning(
                "request %s: the client stopped reading; stream cut at --request-timeout (%g s)",
                self.generation.prepared.request_id,
                timeout_s,
            )
            self.generation.status = "504"
            self.generation.finish()
            await self.body_iterator.aclose()
        finally:
            self.generation.abandon()
