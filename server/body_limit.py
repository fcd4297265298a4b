"""Refuse oversized request bodies with 413 before the app reads them.

The body is read here, up to the limit, and handed to the app only when it fits. Raising from
inside the app's `receive` instead would not work: FastAPI turns any error while it reads a
body into its own 400, so a chunked body (no Content-Length) would never get its 413.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wechat_twin.server.errors import error_body


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            error_body(413, f"request body is larger than {self.max_bytes} bytes", code="request_too_large")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _read_body(self, receive: Receive) -> Message | None:
        """The whole body as one message; None once it passes the limit (the rest is never read)."""
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        first = await self._read_body(receive)
        if first is None:
            await self._reject(send)
            return
        pending = [first]

        async def replay() -> Message:
            # The body once, then the real channel: the app still hears about a client that leaves.
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)
