"""How uvicorn serves the app: the direct peer's address, and a bound on the time a request's headers take.

uvicorn bounds the size of request headers but not their time: a connection that sends its headers a byte
at a time (slowloris), or nothing at all, stays open for as long as the client likes, and a few hundred
of them use up the process's file descriptors so that nobody else can connect. Its keep-alive timeout
covers only an idle connection between requests and stops at the first byte. Nothing in uvicorn's or
h11's settings bounds header time, so the HTTP protocol uvicorn would pick is given a timer: from the
connection's start, or the first byte of each later request, to the end of that request's headers. A
connection that does not get there in `--header-timeout` is closed. The body has its own bound
(`--body-timeout`, in `server.gate`), once the key in the headers has been checked.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from wechat_twin.server.config import ServerSettings


def header_timeout_protocol(
    timeout_s: float, base: type[asyncio.Protocol] = AutoHTTPProtocol
) -> type[asyncio.Protocol]:
    """uvicorn's own HTTP protocol (httptools if installed, else h11: `base`) with the header timer.

    Both set `cycle` to a new request/response cycle as soon as a request's headers are complete, inside
    `data_received`; that is the one thing relied on here, besides `loop` and `transport`.
    """

    class HeaderTimeoutProtocol(base):  # type: ignore[misc, valid-type]
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
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
            super().connection_lost(exc)

        def _between_requests(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _start_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(timeout_s, self._headers_too_slow, self.cycle)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self, cycle_then: Any) -> None:
            self._header_timer = None
            if self.cycle is cycle_then and self._between_requests():
                self.transport.close()

    return HeaderTimeoutProtocol


def uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """What `uvicorn.run` / `uvicorn.Config` is given besides the app and the log level, by the CLI and the tests."""
    return {
        "host": settings.host,
        "port": settings.port,
        # off: the client address is the direct peer's, never what a header claims (server.gate).
        "proxy_headers": False,
        "http": header_timeout_protocol(settings.header_timeout_s),
        "timeout_graceful_shutdown": 5,
    }
