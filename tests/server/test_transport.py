"""The header timer and the connection limits on both HTTP protocols uvicorn may pick (httptools when
installed, else h11), over real sockets: a slow or silent connection is closed at `--header-timeout`, a
kept-alive one only by uvicorn's own keep-alive timeout, and a request whose headers came in time is never
cut by the timer; a connection beyond a limit is answered in the OpenAI shape and closed, and other clients
are served meanwhile."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from tests.support.inprocess_server import serve_fake
from tests.support.server_process import free_port
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.transport import OVER_LIMIT_HEADER_TIMEOUT_S, ConnectionLimits, guarded_protocol

# Wall-clock bounds on the server: run alone (scripts/test.sh), not beside another worker's training.
pytestmark = pytest.mark.serial

TIMEOUT_S = 0.5
UNLIMITED = ConnectionLimits(header_timeout_s=TIMEOUT_S, max_connections=1000, max_per_client=1000)
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
def serving(
    base: type[asyncio.Protocol], limits: ConnectionLimits = UNLIMITED, refused: list[int] | None = None
) -> Iterator[int]:
    port = free_port()
    http = guarded_protocol(limits, base, on_refusal=None if refused is None else refused.append)
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


def get_from(port: int, source: str, path: str = "/") -> httpx.Response:
    """A request from the client address `source` (any of 127.0.0.0/8 reaches the loopback server)."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=5) as client:
        return client.get(f"http://127.0.0.1:{port}{path}")


def silent_from(port: int, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), source_address=(source, 0))


def still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True


def refusal(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["retry-after"] == "1"
    assert response.headers["connection"] == "close"
    return response.json()["error"]


@pytest.mark.parametrize("base", BASES)
def test_a_client_beyond_its_connections_gets_429_while_another_client_is_served(base):
    limits, refused = ConnectionLimits(header_timeout_s=30, max_connections=100, max_per_client=3), []
    with serving(base, limits, refused) as port:
        held = [silent_from(port, "127.0.0.1") for _ in range(3)]
        error = refusal(get_from(port, "127.0.0.1"), 429)
        assert refused == [429]
        assert (error["type"], error["code"]) == ("rate_limit_error", "too_many_connections")
        assert "--max-connections-per-client" in error["message"]
        assert get_from(port, "127.0.0.2").status_code == 200
        assert all(still_open(sock) for sock in held)
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 5
        while (response := get_from(port, "127.0.0.1")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert response.status_code == 200, "closed connections still count"


@pytest.mark.parametrize("base", BASES)
def test_beyond_max_connections_a_request_gets_503_and_a_silent_connection_is_closed_at_once(base):
    limits, refused = ConnectionLimits(header_timeout_s=30, max_connections=2, max_per_client=100), []
    with serving(base, limits, refused) as port:
        held = [silent_from(port, "127.0.0.1"), silent_from(port, "127.0.0.2")]
        error = refusal(get_from(port, "127.0.0.3"), 503)
        assert (error["type"], error["code"]) == ("service_unavailable", "too_many_connections")
        assert "--max-connections" in error["message"]
        flood = silent_from(port, "127.0.0.3")
        assert closed_after(flood, 5) < OVER_LIMIT_HEADER_TIMEOUT_S + 0.5
        assert all(still_open(sock) for sock in held), "a connection within the limit was closed"
        assert refused == [503, 503]
        for sock in held:
            sock.close()


def test_the_servers_metrics_count_refused_connections(embedded_model, adapters_dir):
    with serve_fake(ServerSettings(adapters_dir=adapters_dir, max_connections_per_client=2)) as server:
        held = [silent_from(server.port, "127.0.0.1") for _ in range(2)]
        refusal(get_from(server.port, "127.0.0.1", "/health/live"), 429)
        metrics = get_from(server.port, "127.0.0.2", "/metrics").text
        assert 'twin_connections_refused_total{status="429"} 1.0' in metrics, metrics[-2000:]
        for sock in held:
            sock.close()


def test_the_file_limit_is_raised_to_fit_max_connections():
    script = (
        "import resource\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (300, hard))\n"
        "from wechat_twin.server.transport import FILES_BESIDES_CONNECTIONS, raise_file_limit\n"
        "raise_file_limit(1000)\n"
        "soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
        "needed = 1000 + FILES_BESIDES_CONNECTIONS\n"
        "assert soft == (needed if hard == resource.RLIM_INFINITY else min(needed, hard)), soft\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
