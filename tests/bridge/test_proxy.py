"""The bridge's HTTP clients use a proxy only when the bridge's own settings name one.

HTTP(S)_PROXY set for other programs used to carry every friend's message and the API key through
that proxy, in cleartext to a local `http://` API (issue 27). A recording proxy on loopback shows
which requests reach it: none with only the environment set, every one with `proxy` configured.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.fake_ilink import FakeIlink
from wechat_twin.bridge.api_client import CloneApi
from wechat_twin.bridge.channels.weixin.api import IlinkClient
from wechat_twin.bridge.config import BridgeConfig, WeixinConfig

PROXY_ANSWER = {"data": [{"id": "alice", "parent": "seen-through-the-proxy"}], "qrcode": "via-proxy"}


class _Proxy(socketserver.ThreadingTCPServer):
    """Answers any request with PROXY_ANSWER and keeps its request line (absolute-form through a proxy)."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.server.requests.append(self.rfile.readline().decode().strip())
        length = 0
        while (line := self.rfile.readline().strip()) != b"":
            name, _, value = line.decode().partition(":")
            length = int(value) if name.lower() == "content-length" else length
        self.rfile.read(length)
        body = json.dumps(PROXY_ANSWER).encode()
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"data": [{"id": "alice", "parent": "straight-from-the-api"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _serve(server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    server = _Proxy()
    _serve(server)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    _serve(server)
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy_in_environment(proxy: _Proxy, monkeypatch: pytest.MonkeyPatch) -> _Proxy:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return proxy


def _clone_api(config: BridgeConfig) -> CloneApi:
    return CloneApi(config.api_base, "key-" + "x" * 16, 5.0, 0, 0.0, config.proxy)


def test_the_clone_api_ignores_proxies_set_in_the_environment(api, proxy_in_environment):
    client = _clone_api(BridgeConfig(api_base=api))
    try:
        assert client.base_model_of("alice") == "straight-from-the-api"
    finally:
        client.close()
    assert proxy_in_environment.requests == []


def test_the_clone_api_uses_the_proxy_the_settings_name(api, proxy):
    client = _clone_api(BridgeConfig(api_base=api, proxy=proxy.url))
    try:
        assert client.base_model_of("alice") == "seen-through-the-proxy"
    finally:
        client.close()
    assert proxy.requests == [f"GET {api}/models HTTP/1.1"]


@pytest.fixture
def fake() -> Iterator[FakeIlink]:
    fake = FakeIlink()
    fake.start()
    yield fake
    fake.stop()


def test_ilink_requests_ignore_proxies_set_in_the_environment(fake, proxy_in_environment):
    client = IlinkClient(fake.base_url, proxy=WeixinConfig().proxy)
    try:
        assert client.post("ilink/bot/get_bot_qrcode", {"local_token_list": []})["qrcode"] == "qr-0"
    finally:
        client.close()
    assert proxy_in_environment.requests == [] and fake.qr_keys == ["qr-0"]


def test_ilink_requests_use_the_proxy_the_weixin_settings_name(fake, proxy):
    client = IlinkClient(fake.base_url, proxy=WeixinConfig(proxy=proxy.url).proxy)
    try:
        assert client.post("ilink/bot/get_bot_qrcode", {"local_token_list": []})["qrcode"] == "via-proxy"
    finally:
        client.close()
    assert proxy.requests == [f"POST {fake.base_url}/ilink/bot/get_bot_qrcode?bot_type=3 HTTP/1.1"]
    assert fake.qr_keys == []
