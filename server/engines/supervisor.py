"""Keeps an engine running: notices when it dies, answers "unavailable" meanwhile, and starts a new one.

An engine can die under the server (vLLM's engine-core process crashes or is killed, a GPU
fault). Without this, every later request fails while `/health` still says "ok", so no
supervisor outside restarts anything. Here a death is seen within a poll interval (or at once
when a request trips over it), `/health` turns 503, requests get 503 with `Retry-After`, and a
new engine is started in process; the adapters loaded on the old one are loaded again through
`on_ready`. If no new engine comes up, the server is asked to stop (SIGTERM to itself, which uvicorn turns into
a graceful shutdown) and exits non-zero, so
compose, Kubernetes or systemd restarts the whole process.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import signal
from collections.abc import Awaitable, Callable

from wechat_twin.server.engines.base import Engine

logger = logging.getLogger("wechat_twin.server.engine")


class EngineState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"
    FAILED = "failed"


class EngineSupervisor:
    def __init__(
        self,
        make_engine: Callable[[], Engine],
        on_ready: Callable[[Engine], Awaitable[None]],
        restart_attempts: int = 2,
        poll_interval_s: float = 0.5,
        on_failed: Callable[[], None] = lambda: signal.raise_signal(signal.SIGTERM),
    ) -> None:
        self._make_engine = make_engine
        self._on_ready = on_ready
        self.restart_attempts = restart_attempts
        self.poll_interval_s = poll_interval_s
        self._on_failed = on_failed
        self.state = EngineState.STARTING
        self.restarts = 0
        self._engine: Engine | None = None
        self._watch: asyncio.Task | None = None
        self._restart: asyncio.Task | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the engine has not started")
        return self._engine

    @property
    def ready(self) -> bool:
        return self.state is EngineState.READY

    async def start(self) -> Engine:
        """The first engine: a failure here is a start-up failure, raised to the caller."""
        self._engine = await asyncio.to_thread(self._make_engine)
        await self._on_ready(self._engine)
        self.state = EngineState.READY
        self._watch = asyncio.create_task(self._watch_loop())
        return self._engine

    def check_dead(self) -> bool:
        """True when the engine is down; starts the restart the first time it is seen."""
        if self.state is EngineState.READY and self._engine is not None and self._engine.is_dead():
            self.state = EngineState.RESTARTING
            logger.error("the %s engine died; starting a new one", self._engine.name)
            self._restart = asyncio.create_task(self._restart_engine())
        return self.state is not EngineState.READY

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            self.check_dead()

    async def _restart_engine(self) -> None:
        old = self._engine
        if old is not None:
            with contextlib.suppress(Exception):
                await old.shutdown()
        for attempt in range(1, self.restart_attempts + 1):
            try:
                engine = await asyncio.to_thread(self._make_engine)
                await self._on_ready(engine)
            except Exception:
                logger.exception("engine restart %d of %d failed", attempt, self.restart_attempts)
                continue
            self._engine = engine
            self.restarts += 1
            self.state = EngineState.READY
            logger.info("the %s engine is back (restart %d)", engine.name, self.restarts)
            return
        self.state = EngineState.FAILED
        logger.error("no engine could be started again: stopping the server so that its supervisor restarts it")
        self._on_failed()

    async def shutdown(self) -> None:
        for task in (self._watch, self._restart):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._engine is not None:
            await self._engine.shutdown()
