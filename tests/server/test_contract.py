"""The HTTP contract, checked in seconds: the real app and uvicorn in process, a fake engine behind them.

Nothing here needs a model to generate: auth, error shapes, body limits, SSE framing, what a client
sees when the engine fails mid-stream, refuses a value or dies, and that admission slots come back.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from openai import OpenAI

from tests.support.fake_engine import REPLY
from tests.support.inprocess_server import InProcessServer, serve_fake
from wechat_twin.server.config import ServerSettings

HELLO = [{"role": "user", "content": "hello"}]
KEY = "contract-key"


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


def _events(response: httpx.Response) -> list[str]:
    """The `data:` payloads of an SSE body, checking the framing (each event a `data:` line and a blank line)."""
    body = response.text
    assert body.endswith("\n\n"), body[-80:]
    events = []
    for block in body.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        events.append(block.removeprefix("data: "))
    return events


@pytest.fixture(scope="module")
def server(embedded_model, adapters_dir):
    settings = ServerSettings(
        adapters_dir=adapters_dir,
        api_keys=[KEY],
        aliases={"gpt-3.5-turbo": "alice"},
        max_pending_requests=4,
        request_timeout_s=1.0,
    )
    with serve_fake(settings) as running:
        yield running


@pytest.fixture()
def knobs(server: InProcessServer):
    """Each test starts from a well-behaved engine and leaves it so."""
    server.knobs.fail_after_deltas = None
    server.knobs.refuse = None
    server.knobs.token_delay_s = 0.0
    yield server.knobs
    server.knobs.fail_after_deltas = None
    server.knobs.refuse = None
    server.knobs.token_delay_s = 0.0


@pytest.fixture()
def http(server: InProcessServer, knobs):
    with httpx.Client(base_url=server.root_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as session:
        yield session


def _metric(server: InProcessServer, status: str) -> float:
    text = httpx.get(f"{server.root_url}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("twin_requests_total{") and f'status="{status}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _wait_admitted_zero(server: InProcessServer) -> int:
    deadline = time.monotonic() + 5
    while (admitted := httpx.get(f"{server.root_url}/health").json()["admitted"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return admitted


def test_missing_and_wrong_keys_get_401(server, knobs):
    url = f"{server.base_url}/chat/completions"
    body = {"model": "alice", "messages": HELLO}
    assert _error(httpx.post(url, json=body), 401)["code"] == "invalid_api_key"
    assert _error(httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}), 401)
    assert _error(httpx.get(f"{server.base_url}/models"), 401)


def test_health_needs_no_key_and_reports_the_engine(server, knobs):
    health = httpx.get(f"{server.root_url}/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert set(health.json()["adapters"]) == {"alice", "bob"}
    assert httpx.get(f"{server.root_url}/health/live").status_code == 200


def test_unknown_model_404_lists_served_names(http):
    error = _error(http.post("/v1/chat/completions", json={"model": "gpt-4", "messages": HELLO}), 404)
    assert error["param"] == "model"
    for name in ("SmolLM2-135M-Instruct", "alice", "bob", "gpt-3.5-turbo"):
        assert name in error["message"]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"temperature": -0.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"n": 0}, "n"),
        ({"messages": []}, "messages"),
        ({"model": None}, "model"),
        ({"messages": [{"content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "messages.0.content.0.type",
        ),
        ({"tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}, "tool_choice"),
        ({"response_format": {"type": "json_object"}}, "response_format.type"),
    ],
)
def test_invalid_values_get_400_naming_the_field(http, change, param):
    body = {"model": "alice", "messages": HELLO, **change}
    body = {k: v for k, v in body.items() if v is not None}
    error = _error(http.post("/v1/chat/completions", json=body), 400)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_malformed_json_is_400(http):
    response = http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert "JSON" in _error(response, 400)["message"]


def test_oversized_body_is_413_with_and_without_content_length(http):
    body = json.dumps({"model": "alice", "messages": [{"role": "user", "content": "x" * (2 << 20)}]}).encode()
    json_type = {"content-type": "application/json"}
    assert (
        _error(http.post("/v1/chat/completions", content=body, headers=json_type), 413)["code"] == "request_too_large"
    )

    def chunked():
        for start in range(0, len(body), 1 << 16):
            yield body[start : start + (1 << 16)]

    chunked_reply = http.post("/v1/chat/completions", content=chunked(), headers=json_type)
    assert _error(chunked_reply, 413)["code"] == "request_too_large"


def test_a_stream_is_sse_chunks_then_done(http):
    body = {
        "model": "alice",
        "messages": HELLO,
        "max_tokens": 4,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "".join(REPLY[:4])
    assert chunks[-1]["usage"]["completion_tokens"] == 4


@pytest.mark.parametrize("stream", [False, True])
def test_greedy_with_n_returns_n_identical_choices(server, http, stream):
    client = OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    kwargs = {"model": "alice", "messages": HELLO, "max_tokens": 3, "temperature": 0, "n": 3}
    if not stream:
        reply = client.chat.completions.create(**kwargs)
        assert [c.index for c in reply.choices] == [0, 1, 2]
        assert len({c.message.content for c in reply.choices}) == 1
        assert reply.usage.completion_tokens == 9
        return
    texts = {0: "", 1: "", 2: ""}
    for chunk in client.chat.completions.create(**kwargs, stream=True):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert set(texts.values()) == {"".join(REPLY[:3])}
    assert server.engine.seen[-1].n == 1, "greedy copies are made by the server, not sampled n times"


def test_an_engine_refusal_is_400_naming_the_field(http, knobs):
    knobs.refuse = ("seed must be non-negative", "seed")
    error = _error(http.post("/v1/chat/completions", json={"model": "alice", "messages": HELLO}), 400)
    assert error["param"] == "seed"
    assert "seed" in error["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_an_engine_exception_mid_stream_is_an_error_event_then_done_counted_500(server, http, knobs, stream):
    knobs.fail_after_deltas = 2
    before = _metric(server, "500")
    response = http.post("/v1/chat/completions", json={"model": "alice", "messages": HELLO, "stream": stream})
    if not stream:
        assert _error(response, 500)["code"] == "internal_error"
    else:
        assert response.status_code == 200
        events = _events(response)
        assert events[-1] == "[DONE]"
        assert len(events) == 4, events
        error = json.loads(events[-2])["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert (error["type"], error["code"]) == ("server_error", "internal_error")
    assert _metric(server, "500") == before + 1
    assert _wait_admitted_zero(server) == 0


@pytest.mark.parametrize("stream", [False, True])
def test_past_the_request_timeout_is_504_and_the_slot_comes_back(server, http, knobs, stream):
    knobs.token_delay_s = 0.4
    body = {"model": "alice", "messages": HELLO, "max_tokens": 7, "stream": stream}
    response = http.post("/v1/chat/completions", json=body)
    if not stream:
        error = _error(response, 504)
        assert (error["type"], error["code"]) == ("timeout_error", "timeout")
    else:
        events = _events(response)
        assert events[-1] == "[DONE]"
        error = json.loads(events[-2])["error"]
        assert (error["type"], error["code"]) == ("timeout_error", "timeout")
    assert _wait_admitted_zero(server) == 0
    assert server.engine.running == set(), "the timed-out generation was not aborted"


def test_a_stream_whose_client_leaves_before_the_first_byte_frees_its_slot(server, knobs):
    """ASGI 2.3 servers report the disconnect before the body is iterated: the slot must come back anyway."""
    body = json.dumps({"model": "alice", "messages": HELLO, "stream": True}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", server.port),
        "headers": [
            (b"authorization", f"Bearer {KEY}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }

    async def leave_before_the_first_byte() -> list[dict]:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict] = []

        async def receive() -> dict:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            await asyncio.sleep(0.05)  # a slow socket: the disconnect is seen while the headers go out

        for _ in range(6):
            await server.app(dict(scope), receive, send)
            messages.append({"type": "http.request", "body": body, "more_body": False})
        return sent

    sent = asyncio.run(leave_before_the_first_byte())
    assert not any(m.get("body", b"").startswith(b"data: ") for m in sent), "the streams were iterated after all"
    assert _wait_admitted_zero(server) == 0, "slots leaked by streams that were never iterated"
    reply = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "alice", "messages": HELLO},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert reply.status_code == 200, reply.text


def test_a_full_server_answers_429_with_retry_after(server, knobs):
    knobs.token_delay_s = 0.3
    body = {"model": "alice", "messages": HELLO, "stream": True}
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as session:
        streams = [session.stream("POST", "/chat/completions", json=body) for _ in range(4)]
        responses = [s.__enter__() for s in streams]
        try:
            assert all(r.status_code == 200 for r in responses)
            limited = httpx.post(f"{server.base_url}/chat/completions", json=body, headers=headers)
            assert limited.headers["retry-after"] == "1"
            assert _error(limited, 429)["code"] == "queue_full"
        finally:
            for s in streams:
                s.__exit__(None, None, None)
    assert _wait_admitted_zero(server) == 0
