"""Request preparation (memory lookup, chat template, tokenization) runs on a worker thread, not the event loop.

Preparing is CPU work proportional to what the client sent (a 1 MiB body is a lot of text to render and
tokenize): on the event loop it held every other request and `/health/live` for as long. One thread
prepares at a time, so a flood of big requests queues here instead of starving the engine's own threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
from fastapi import Request

PREPARATION_THREADS = 1

T = TypeVar("T")


async def off_the_loop(request: Request, work: Callable[[], T]) -> T:
    """`work()` on the app's preparation thread; its exceptions (OpenAIError included) reach the caller."""
    state = request.app.state
    limiter = getattr(state, "preparation_limiter", None)
    if limiter is None:  # created on the loop, where anyio can tell which one it serves
        limiter = state.preparation_limiter = anyio.CapacityLimiter(PREPARATION_THREADS)
    return await anyio.to_thread.run_sync(work, limiter=limiter)
