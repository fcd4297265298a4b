"""How uvicorn serves the app: the direct peer's address, a bound on the time a request's headers take, and
on the connections open at once.

uvicorn bounds the size of request headers but not their time: a connection that sends its headers a byte
at a time (slowloris), or nothing at all, stays open for as long as the client likes, and a few hundred
of them use up the process's file descriptors so that nobody else can connect. Its keep-alive timeout
covers only an idle connection between requests and stops at the first byte. Nothing in uvicorn's or
h11's settings bounds header time, so the HTTP protocol uvicorn would pick is given a timer: from the
connection's start, or the first byte of each later request, to the end of that request's headers. A
connection that does not get there in `--header-timeout` is closed. The body has its own bound
(`--body-timeout`, in `server.gate`), once the key in the headers has been checked.

Within that time a client that opens connections fast enough still holds as many as it likes. So the
connections open at once are counted, in all and per client address: one beyond `--max-connections-per-client`
is answered 429 and one beyond `--max-connections` 503, in the OpenAI error shape (uvicorn's own
`limit_concurrency` answers plain text, and counts requests rather than clients), and then closed; such a
connection gets `OVER_LIMIT_HEADER_TIMEOUT_S` for its headers, so that a flood cannot hold descriptors with
them either.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from wechat_twin.server.config import ServerSettings
from wechat_twin.server.errors import OpenAIError, send_error

logger = logging.getLogger(__name__)

# Time an over-limit connection has for its headers: a client sends a request's headers at once.
OVER_LIMIT_HEADER_TIMEOUT_S = 1.0
# File descriptors the server needs besides its connections: the engine, model files, databases, logs.
FILES_BESIDES_CONNECTIONS = 256


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    max_connections: int
    max_per_client: int

    @classmethod
    def of(cls, settings: ServerSettings) -> ConnectionLimits:
        return cls(settings.header_timeout_s, settings.max_connections, settings.max_connections_per_client)


class _OpenConnections:
    """Connections open now, in all and per client address (one server's; its event loop is the only user)."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.total = 0
        self.by_client: Counter[str] = Counter()

    def opened(self, client: str) -> OpenAIError | None:
        """Count a new connection; the error to answer it with when it goes beyond a limit."""
        self.total += 1
        self.by_client[client] += 1
        if self.by_client[client] > self.limits.max_per_client:
            return OpenAIError(
                429,
                f"this client has {self.limits.max_per_client} connections open, the server's "
                "--max-connections-per-client: reuse them (keep-alive) or close idle ones",
                code="too_many_connections",
                headers={"Retry-After": "1"},
            )
        if self.total > self.limits.max_connections:
            return OpenAIError(
                503,
                f"the server has {self.limits.max_connections} connections open, its --max-connections; retry shortly",
                code="too_many_connections",
                headers={"Retry-After": "1"},
            )
        return None

    def closed(self, client: str) -> None:
        self.total -= 1
        self.by_client[client] -= 1
        if not self.by_client[client]:
            del self.by_client[client]


def _answer(error: OpenAIError) -> Any:
    """An ASGI app that answers every request with `error` and closes the connection."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send_error(send, error, close=True)

    return app


def guarded_protocol(
    limits: ConnectionLimits,
    base: type[asyncio.Protocol] = AutoHTTPProtocol,
    on_refusal: Callable[[int], None] | None = None,
) -> type[asyncio.Protocol]:
    """uvicorn's own HTTP protocol (httptools if installed, else h11: `base`) with the header timer and the
    connection limits; `on_refusal(status)` is told of each connection refused (the app's metrics).

    Both set `cycle` to a new request/response cycle as soon as a request's headers are complete, inside
    `data_received`, and both call `app` for each request: those are the things relied on here, besides
    `client`, `loop` and `transport`.
    """
    connections = _OpenConnections(limits)

    class GuardedProtocol(base):  # type: ignore[misc, valid-type]
        _header_timer: asyncio.TimerHandle | None = None
        _header_timeout_s = limits.header_timeout_s
        _client = ""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._client = self.client[0] if self.client else ""
            refusal = connections.opened(self._client)
            if refusal is not None:
                logger.warning("connection from %s refused (%s): %s", self._client, refusal.status, refusal.message)
                if on_refusal is not None:
                    on_refusal(refusal.status)
                self.app = _answer(refusal)
                self._header_timeout_s = min(limits.header_timeout_s, OVER_LIMIT_HEADER_TIMEOUT_S)
            self._start_header_timer()

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            if self._header_timer is None and self._between_requests():
                self._start_header_timer()  # the first byte of the next request on a kept-alive connection
            super().data_received(data)
            if self.cycle is not before:
                self._stop_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            connections.closed(self._client)
            super().connection_lost(exc)

        def _between_requests(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _start_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(self._header_timeout_s, self._headers_too_slow, self.cycle)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self, cycle_then: Any) -> None:
            self._header_timer = None
            if self.cycle is cycle_then and self._between_requests():
                self.transport.close()

    return GuardedProtocol


def raise_file_limit(max_connections: int) -> None:
    """Let the process open `--max-connections` connections and its own files: the soft limit (often 1024)
    is raised up to the hard one where it is lower, with a warning where even that is too low."""
    needed = max_connections + FILES_BESIDES_CONNECTIONS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        if raised < needed:
            logger.warning(
                "the process may open %d files (ulimit -n), fewer than --max-connections %d plus %d of its own: "
                "lower --max-connections or raise the limit",
                raised,
                max_connections,
                FILES_BESIDES_CONNECTIONS,
            )


def uvicorn_options(settings: ServerSettings, on_refusal: Callable[[int], None] | None = None) -> dict[str, Any]:
    """What `uvicorn.run` / `uvicorn.Config` is given besides the app and the log level, by the CLI and the tests;
    `on_refusal`: the app's `metrics.refused_connection`."""
    return {
        "host": settings.host,
        "port": settings.port,
        # off: the client address is the direct peer's, never what a header claims (server.gate).
        "proxy_headers": False,
        "http": guarded_protocol(ConnectionLimits.of(settings), on_refusal=on_refusal),
        "timeout_graceful_shutdown": 5,
    }
