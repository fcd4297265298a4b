"""An HTTP service that comes up late: a loopback port that refuses connections until this forwards it to a server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response

PASSED_HEADERS = ("authorization", "content-type")


@contextmanager
def forwarding(port: int, target: str) -> Iterator[None]:
    """Everything sent to 127.0.0.1:`port` goes to `target` (a root URL) while the block runs."""
    app = FastAPI()
    upstream = httpx.AsyncClient(base_url=target, timeout=120)

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def forward(path: str, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED_HEADERS}
        answer = await upstream.request(request.method, f"/{path}", content=await request.body(), headers=headers)
        return Response(answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not forward port {port}")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
