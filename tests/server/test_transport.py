"""The header timer on both HTTP protocols uvicorn may pick (httptools when installed, else h11), over real
sockets: a slow or silent connection is closed at `--header-timeout`, a kept-alive one only by uvicorn's own
keep-alive timeout, and a request whose headers came in time is never cut by the timer."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from tests.support.server_process import free_port
from wechat_twin.server.transport import header_timeout_protocol

# Wall-clock bounds on the server: run alone (scripts/test.sh), not beside another worker's training.
pytestmark = pytest.mark.serial

TIMEOUT_S = 0.5
BASES = [pytest.param(H11Protocol, id="h11")]
try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    BASES.append(pytest.param(HttpToolsProtocol, id="httptools"))
except ImportError:  # httptools is optional for uvicorn
    pass


async def slow_app(scope, receive, send) -> None:
    """Answers after 2 header timeouts: the timer must not cut a request whose headers are complete."""
    if scope["type"] != "http":
        return
    await asyncio.sleep(2 * TIMEOUT_S)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def serving(base: type[asyncio.Protocol]) -> Iterator[int]:
    port = free_port()
    http = header_timeout_protocol(TIMEOUT_S, base)
    server = uvicorn.Server(uvicorn.Config(slow_app, host="127.0.0.1", port=port, log_level="warning", http=http))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def closed_after(sock: socket.socket, limit_s: float) -> float:
    """Seconds until the server closed the connection (recv gives EOF), reading whatever came first."""
    started = time.monotonic()
    sock.settimeout(limit_s)
    while sock.recv(4096):
        pass
    return time.monotonic() - started


@pytest.mark.parametrize("base", BASES)
def test_a_silent_or_dribbling_connection_is_closed_at_the_header_timeout(base):
    with serving(base) as port:
        silent = socket.create_connection(("127.0.0.1", port))
        partial = socket.create_connection(("127.0.0.1", port))
        partial.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert TIMEOUT_S * 0.8 < closed_after(silent, 5) < TIMEOUT_S + 0.5
        assert closed_after(partial, 5) < TIMEOUT_S + 0.5


@pytest.mark.parametrize("base", BASES)
def test_the_timer_restarts_at_the_next_request_of_a_kept_alive_connection_and_spares_slow_answers(base):
    with serving(base) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(5)
        for _ in range(2):  # each answer takes longer than the header timeout: it is not cut
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET / HT")
        assert closed_after(sock, 5) < TIMEOUT_S + 0.5
