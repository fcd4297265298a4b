"""The FastAPI app factory. The engine is created in the lifespan, never at import,
because vLLM spawns its engine-core process and spawn re-imports the main module."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from wechat_twin.feedback.blind import BlindTrials
from wechat_twin.server.adapters.registry import AdapterRegistry
from wechat_twin.server.api.adapters.router import router as adapters_router
from wechat_twin.server.api.chat.router import router as chat_router
from wechat_twin.server.api.completions.router import router as completions_router
from wechat_twin.server.api.generation import Admission
from wechat_twin.server.api.health import router as health_router
from wechat_twin.server.api.models.router import router as models_router
from wechat_twin.server.api.openapi import install_openapi
from wechat_twin.server.basemodel import resolve_base_model
from wechat_twin.server.body_limit import BodySizeLimit
from wechat_twin.server.config import ServerSettings, check_exposure
from wechat_twin.server.engines import create_engine
from wechat_twin.server.engines.base import Engine, EngineOptions
from wechat_twin.server.engines.supervisor import EngineSupervisor
from wechat_twin.server.errors import install_error_handlers
from wechat_twin.server.gate import Gate
from wechat_twin.server.metrics import ServerMetrics
from wechat_twin.server.web.api.rate import FeedbackRate
from wechat_twin.server.web.api.router import router as feedback_router
from wechat_twin.server.web.api.serving import open_store
from wechat_twin.server.web.router import install_page

logger = logging.getLogger("wechat_twin.server")


EngineFactory = Callable[[str, str, EngineOptions], Engine]


def freeze_startup_heap() -> None:
    """Keep the objects of start-up (torch, vLLM, transformers, the tokenizer: 600,000 and more) out of every later
    garbage collection. A full collection scans the whole heap holding the GIL: with them, 0.3 s on an idle
    machine and up to 1 s on a loaded one, started by whatever allocates next, such as a 1 MiB request's
    JSON, so `/health/live` and every other client stalled once per big request. vLLM's API server does the same."""
    gc.collect()
    gc.freeze()


def create_app(settings: ServerSettings, engine_factory: EngineFactory = create_engine) -> FastAPI:
    """`engine_factory(kind, model_path, options)` builds each engine; tests pass a small fake one."""
    check_exposure(settings)
    base = resolve_base_model(settings.model, settings.served_name)
    registry: AdapterRegistry | None = None

    async def on_ready(engine: Engine) -> None:
        app.state.engine = engine
        if registry is not None:
            await registry.attach(engine)

    supervisor = EngineSupervisor(
        lambda: engine_factory(settings.engine, str(base.path), settings.engine_options), on_ready
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal registry
        engine = await supervisor.start()
        loads = app.state.metrics.adapter_loads
        registry = AdapterRegistry(
            engine,
            base.served_name,
            base.path,
            settings.adapters_dir,
            settings.aliases,
            settings.base_revision,
            base_source=settings.base_source or base.source,
            on_load=lambda name: loads.labels(name).inc(),
        )
        app.state.registry = registry
        registry.scan()  # the folders' JSON files only: each clone is loaded on its first request
        for alias, name in settings.aliases.items():
            registry.resolve(name)
            logger.info("alias %s -> %s", alias, name)
        logger.info(
            "serving %s with %s engine; %d adapters, each loaded on first use: %s",
            base.served_name,
            engine.name,
            len(registry.adapters),
            ", ".join(a.ref.name for a in registry.adapters[:20]) + (", ..." if len(registry.adapters) > 20 else ""),
        )
        freeze_startup_heap()
        try:
            yield
        finally:
            await supervisor.shutdown()
            if app.state.feedback is not None:
                app.state.feedback.close()

    app = FastAPI(title="wechat-twin", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.supervisor = supervisor
    app.state.metrics = ServerMetrics(lambda: getattr(app.state, "engine", None), base.served_name)
    app.state.admission = Admission(settings.max_pending_requests, settings.max_pending_per_key)
    app.state.text_logger = logging.getLogger("wechat_twin.server.text")
    app.state.feedback = open_store(settings)
    app.state.blind = BlindTrials(app.state.feedback) if app.state.feedback is not None else None
    app.state.feedback_rate = FeedbackRate()
    install_error_handlers(app)
    install_openapi(app)
    for prefix in ("/v1", ""):
        for router in (chat_router, completions_router, models_router, adapters_router):
            app.include_router(router, prefix=prefix)
    app.include_router(health_router)
    app.include_router(feedback_router)
    install_page(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Gate, settings=settings)  # added last: runs first
    return app
