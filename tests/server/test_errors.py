"""Every failure a client can cause gets the OpenAI error shape and the right status, never a 500 or a hang."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

HELLO = [{"role": "user", "content": "hello"}]


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


def test_missing_and_wrong_keys_get_401(twin_server):
    url = f"{twin_server.base_url}/chat/completions"
    body = {"model": "bob", "messages": HELLO}
    assert _error(httpx.post(url, json=body), 401)["code"] == "invalid_api_key"
    assert _error(httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}), 401)
    assert _error(httpx.get(f"{twin_server.base_url}/models"), 401)


def test_health_needs_no_key(twin_server):
    health = httpx.get(f"{twin_server.root_url}/health").json()
    assert health["status"] == "ok"
    assert set(health["adapters"]) >= {"alice", "bob"}


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
        ({"max_tokens": 0}, "max_tokens"),
        ({"n": 0}, "n"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
         "messages.0.content.0.type"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
         "messages.0.content.0.type"),
        ({"tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
        ({"response_format": {"type": "json_object"}}, "response_format.type"),
    ],
)  # fmt: skip
def test_invalid_values_get_400_naming_the_field(http, change, param):
    body = {"model": "bob", "messages": HELLO, **change}
    error = _error(http.post("/v1/chat/completions", json=body), 400)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_prompt_longer_than_context_is_400(http):
    long = "word " * 5000
    error = _error(http.post("/v1/chat/completions", json={"model": "bob", "messages": [
        {"role": "user", "content": long}]}), 400)  # fmt: skip
    assert error["code"] == "context_length_exceeded"
    assert "1024" in error["message"]


def test_malformed_json_is_400(http):
    response = http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert "JSON" in _error(response, 400)["message"]


def test_oversized_body_is_413(http):
    body = {"model": "bob", "messages": [{"role": "user", "content": "x" * (2 << 20)}]}
    assert _error(http.post("/v1/chat/completions", json=body), 413)["code"] == "request_too_large"


def test_fields_real_clients_send_are_ignored(http):
    body = {
        "model": "bob", "messages": HELLO, "max_tokens": 3, "logit_bias": {"50256": -100},
        "response_format": {"type": "text"}, "parallel_tool_calls": False, "some_vendor_extra": {"a": 1},
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "tool_choice": "auto", "user": "friend-42",
    }  # fmt: skip
    reply = http.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"]
    assert "tool_calls" not in reply.json()["choices"][0]["message"]


def test_non_alternating_history_is_repaired(http):
    doubled = [
        {"role": "system", "content": "You are Bob."},
        {"role": "assistant", "content": "Hi, I am Bob."},
        {"role": "user", "content": "hello"},
        {"role": "user", "content": "are you there?"},
    ]
    merged = [
        {"role": "system", "content": "You are Bob."},
        {"role": "assistant", "content": "Hi, I am Bob."},
        {"role": "user", "content": "hello\nare you there?"},
    ]
    first = http.post("/v1/chat/completions", json={"model": "bob", "messages": doubled, "max_tokens": 8,
                                                    "temperature": 0})  # fmt: skip
    second = http.post("/v1/chat/completions", json={"model": "bob", "messages": merged, "max_tokens": 8,
                                                     "temperature": 0})  # fmt: skip
    assert first.status_code == second.status_code == 200
    assert first.json()["choices"] == second.json()["choices"]
    assert first.json()["usage"] == second.json()["usage"]


def test_empty_system_message_counts_as_none(http):
    with_empty = [{"role": "system", "content": "  "}, *HELLO]
    a = http.post("/v1/chat/completions", json={"model": "alice", "messages": with_empty, "max_tokens": 6,
                                                "temperature": 0}).json()  # fmt: skip
    b = http.post("/v1/chat/completions", json={"model": "alice", "messages": HELLO, "max_tokens": 6,
                                                "temperature": 0}).json()  # fmt: skip
    assert a["usage"] == b["usage"]
    assert a["choices"][0]["message"] == b["choices"][0]["message"]


def test_full_queue_gets_429_with_retry_after(twin_server):
    url = f"{twin_server.base_url}/chat/completions"
    headers = {"Authorization": f"Bearer {twin_server.api_key}"}
    body = {"model": "bob", "messages": HELLO, "max_tokens": 60, "temperature": 0}
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda _: httpx.post(url, json=body, headers=headers, timeout=300), range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) == {200, 429}, statuses
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.headers["retry-after"] == "1"
    assert _error(limited, 429)["code"] == "queue_full"
