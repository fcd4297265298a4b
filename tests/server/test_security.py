"""Issue 27's findings against the server's keys and transport, over real HTTP to the real app (fake engine).

Each test reproduces one finding as it was measured: an empty `X-Api-Key`, a spoofed `Host`, a request
through a proxy to a keyless server, stalled bodies, a stalled stream reader, and a chat key enumerating
contacts through `usage.prompt_tokens`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import time
from urllib.parse import quote

import httpx
import pytest

from tests.support.inprocess_server import serve_fake
from tests.support.memory import MOM, SHARED_FACT, UNSHARED_FACT, write_memory
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.engines.base import EngineOptions
from wechat_twin.server.keys import ChatKey

API_KEY = "api-key-for-the-bridge-0001"
FRIEND_KEY = "friend-key-of-lin-000000001"
MOM_KEY = "chat-key-of-mom-00000000001"
HELLO = [{"role": "user", "content": "hello"}]
MEMORY_CLONE = "alice-memory"
HEADER_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def keyed(embedded_model, adapters_dir, tmp_path_factory):
    """alice, bob, and alice with memory; the friend's chat key may use alice and her memory copy only."""
    root = tmp_path_factory.mktemp("security-adapters")
    for name in ("alice", "bob"):
        shutil.copytree(adapters_dir / name, root / name)
    shutil.copytree(adapters_dir / "alice", root / MEMORY_CLONE)
    write_memory(root / MEMORY_CLONE)
    settings = ServerSettings(
        adapters_dir=root,
        api_keys=[API_KEY],
        chat_keys={
            "lin": ChatKey(key=FRIEND_KEY, clones=["alice", MEMORY_CLONE]),
            "mom": ChatKey(key=MOM_KEY, clones=[MEMORY_CLONE], contact="妈妈"),
        },
        engine_options=EngineOptions(max_model_len=65536),  # room for a stream of tens of megabytes
        header_timeout_s=HEADER_TIMEOUT_S,
        body_timeout_s=1.0,
        request_timeout_s=2.0,
    )
    with serve_fake(settings) as running:
        yield running


@pytest.fixture(scope="module")
def keyless(embedded_model, adapters_dir):
    with serve_fake(ServerSettings(adapters_dir=adapters_dir)) as running:
        yield running


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_an_empty_x_api_key_header_is_no_key(keyed):
    for path in ("/v1/models", "/chat/api/session"):
        assert _error(httpx.get(f"{keyed.root_url}{path}", headers={"X-Api-Key": ""}), 401)["code"] == "invalid_api_key"
    refused = httpx.post(f"{keyed.base_url}/unload_lora_adapter", json={"lora_name": "x"}, headers={"X-Api-Key": ""})
    assert _error(refused, 401)
    assert httpx.get(f"{keyed.base_url}/models", headers={"X-Api-Key": API_KEY}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io"])
def test_a_spoofed_host_is_refused_on_a_keyless_loopback_server(keyless, host):
    """DNS rebinding: the page's own name arrives as Host."""
    for path in ("/v1/models", "/chat/api/session"):
        error = _error(httpx.get(f"{keyless.root_url}{path}", headers={"Host": host}), 421)
        assert error["code"] == "host_not_allowed"
    assert httpx.get(f"{keyless.base_url}/models", headers={"Host": f"localhost:{keyless.port}"}).status_code == 200
    assert httpx.get(f"{keyless.base_url}/models").status_code == 200


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Forwarded-Host"])
def test_a_keyless_server_refuses_what_came_through_a_proxy(keyless, header):
    response = httpx.get(f"{keyless.base_url}/models", headers={header: "for=203.0.113.7"})
    assert _error(response, 401)["code"] == "invalid_api_key"
    assert httpx.get(f"{keyless.root_url}/health/live", headers={header: "x"}).status_code == 200


def test_a_post_that_is_not_json_is_415(keyless):
    def served() -> set[str]:
        return {model["id"] for model in httpx.get(f"{keyless.base_url}/models").json()["data"]}

    assert "alice" in served()
    response = httpx.post(
        f"{keyless.base_url}/unload_lora_adapter",
        content=b'{"lora_name": "alice"}',
        headers={"Content-Type": "text/plain"},
    )
    assert _error(response, 415)["code"] == "unsupported_media_type"
    assert "alice" in served(), "the refused request unloaded nothing"


def _stalled_body(port: int, key: str | None) -> socket.socket:
    """Headers for a 1 MiB body, then all of it but one byte, then nothing."""
    size = 1 << 20
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    )
    sock.sendall(head.encode())
    with contextlib.suppress(OSError):  # answered and closed before the body was read
        sock.sendall(b" " * (size - 1))
    return sock


def _answer(sock: socket.socket, within_s: float) -> bytes:
    sock.settimeout(within_s)
    try:
        return sock.recv(4096)
    except TimeoutError:
        return b""
    finally:
        sock.close()


def test_stalled_bodies_without_a_key_are_refused_before_the_body_is_read(keyed):
    sockets = [_stalled_body(keyed.port, None) for _ in range(20)]
    answers = [_answer(sock, 5) for sock in sockets]
    assert all(a.startswith(b"HTTP/1.1 401") for a in answers), answers[:2]


def test_a_stalled_body_with_a_key_gets_408_at_the_body_timeout(keyed):
    started = time.monotonic()
    sockets = [_stalled_body(keyed.port, API_KEY) for _ in range(20)]
    answers = [_answer(sock, 10) for sock in sockets]
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:2]
    assert time.monotonic() - started < 8
    assert httpx.get(f"{keyed.root_url}/health/live").status_code == 200


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed its end (EOF or a reset); False while it waits for more."""
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_connections_that_dribble_their_headers_are_closed_while_others_are_served(keyed):
    """Slowloris: 30 connections send a request's headers a byte every 0.1 s, one sends nothing. Each is closed
    within `--header-timeout` (plus the loop's slack), and a normal client is answered throughout."""
    slow = [socket.create_connection(("127.0.0.1", keyed.port)) for _ in range(31)]
    for sock in slow:
        sock.setblocking(False)
    line = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200
    started, closed_at = time.monotonic(), {}
    with httpx.Client(base_url=keyed.root_url, timeout=2) as other:
        for step in range(len(line)):
            now = time.monotonic() - started
            for index, sock in enumerate(slow):
                if index in closed_at:
                    continue
                if _closed_by_server(sock):
                    closed_at[index] = now
                elif index:  # the first one never sends a byte
                    with contextlib.suppress(OSError):
                        sock.send(line[step : step + 1])
            if len(closed_at) == len(slow) or now > 4 * HEADER_TIMEOUT_S:
                break
            assert other.get("/health/live").status_code == 200, "another client waits"
            time.sleep(0.1)
    for sock in slow:
        sock.close()
    assert len(closed_at) == len(slow), f"{len(slow) - len(closed_at)} slow connections still open after 4 s"
    assert max(closed_at.values()) < HEADER_TIMEOUT_S + 1.0, sorted(closed_at.values())[-3:]


def test_a_stream_reader_that_stops_reading_loses_its_slot_at_the_request_timeout(keyed):
    keyed.knobs.reply_tokens = 200_000
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", keyed.port))
        body = (
            b'{"model": "alice", "stream": true, "n": 8, "temperature": 1, "max_tokens": 60000, "messages": '
            b'[{"role": "user", "content": "hello"}]}'
        )
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            + API_KEY.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        time.sleep(0.5)
        assert httpx.get(f"{keyed.root_url}/health").json()["admitted"] == 1
        deadline = time.monotonic() + 2.0 + 3.0  # --request-timeout plus the last write's grace
        while httpx.get(f"{keyed.root_url}/health").json()["admitted"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert httpx.get(f"{keyed.root_url}/health").json()["admitted"] == 0
        sock.close()
    finally:
        keyed.knobs.reply_tokens = None


def _prompt_tokens(server, key: str, fields: dict | None = None, headers: dict | None = None) -> int:
    body = {"model": MEMORY_CLONE, "messages": HELLO, "max_tokens": 1, **(fields or {})}
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
    )
    assert response.status_code == 200, response.text
    return response.json()["usage"]["prompt_tokens"]


def test_a_chat_key_cannot_enumerate_contacts_or_read_their_memory(keyed):
    """The bridge's key names a contact and gets their memory (the prompt grows); a friend's chat key naming
    the same contact, by `user` or by header, gets the prompt of no contact at all."""
    nobody = _prompt_tokens(keyed, API_KEY, fields={"user": "someone the memory never saw"})
    assert _prompt_tokens(keyed, API_KEY, fields={"user": MOM}) > nobody
    assert _prompt_tokens(keyed, FRIEND_KEY) == nobody
    assert _prompt_tokens(keyed, FRIEND_KEY, fields={"user": MOM}) == nobody
    assert _prompt_tokens(keyed, FRIEND_KEY, headers={"X-Twin-Contact": quote(MOM)}) == nobody


def test_a_chat_key_cannot_use_a_clone_it_was_not_given(keyed):
    headers = {"Authorization": f"Bearer {FRIEND_KEY}"}
    response = httpx.post(
        f"{keyed.base_url}/chat/completions", json={"model": "bob", "messages": HELLO}, headers=headers
    )
    error = _error(response, 404)
    assert error["code"] == "model_not_found" and "bob" not in error["message"].split("Served models:")[1]
    models = httpx.get(f"{keyed.base_url}/models", headers=headers).json()["data"]
    assert [m["id"] for m in models] == ["alice", MEMORY_CLONE] and models[0]["root"] == "alice"
    chat = {"model": "alice", "messages": HELLO, "max_tokens": 1}
    assert httpx.post(f"{keyed.base_url}/chat/completions", json=chat, headers=headers).status_code == 200


def _prompt_text(server, key: str, fields: dict | None = None) -> str:
    _prompt_tokens(server, key, fields)
    return server.engine.tokenizer.decode(server.engine.prompts[-1])


def test_only_the_facts_the_owner_marked_shared_reach_a_contacts_prompt(keyed):
    """The facts file's lines before any section are marked for nobody: neither the friend speaking as their
    own contact nor the bridge naming that contact gets them; the `[*]` ones and the contact's own do."""
    for key, fields in ((MOM_KEY, None), (API_KEY, {"user": "妈妈"})):
        prompt = _prompt_text(keyed, key, fields)
        assert SHARED_FACT in prompt and "Mom grows tomatoes" in prompt, prompt
        assert UNSHARED_FACT not in prompt and "Jie is my college roommate" not in prompt, prompt
