"""The real app, served by uvicorn on a thread of the test process, with the fake engine: HTTP in seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from tests.support.fake_engine import FakeEngine, Knobs
from tests.support.server_process import free_port
from wechat_twin.server.app import create_app
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.transport import uvicorn_options


@dataclass
class InProcessServer:
    app: FastAPI
    port: int
    knobs: Knobs
    api_key: str

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def engine(self) -> FakeEngine:
        return self.app.state.engine


@contextmanager
def serve_fake(settings: ServerSettings, knobs: Knobs | None = None) -> Iterator[InProcessServer]:
    """Run `create_app(settings)` with fake engines until the block ends."""
    knobs = knobs or Knobs()
    app = create_app(settings, lambda _kind, path, options: FakeEngine(path, options, knobs))
    port = free_port()
    # the CLI's protocol, timers and connection limits, its refusals counted in the app's metrics
    options = {**uvicorn_options(settings, app.state.metrics.refused_connection), "host": "127.0.0.1", "port": port}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the in-process server did not start")
        time.sleep(0.05)
    try:
        yield InProcessServer(app, port, knobs, settings.api_keys[0] if settings.api_keys else "")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
