"""Client mistakes and sloppy clients against a real engine (the model-free contract is in test_contract.py)."""

from __future__ import annotations

import httpx

HELLO = [{"role": "user", "content": "hello"}]


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


def test_prompt_longer_than_context_is_400(http):
    long = "word " * 5000
    error = _error(
        http.post("/v1/chat/completions", json={"model": "bob", "messages": [{"role": "user", "content": long}]}), 400
    )
    assert error["code"] == "context_length_exceeded"
    assert "1024" in error["message"]


def test_fields_real_clients_send_are_ignored(http):
    body = {
        "model": "bob",
        "messages": HELLO,
        "max_tokens": 3,
        "logit_bias": {"50256": -100},
        "response_format": {"type": "text"},
        "parallel_tool_calls": False,
        "some_vendor_extra": {"a": 1},
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
        "user": "friend-42",
    }
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
    first = http.post(
        "/v1/chat/completions", json={"model": "bob", "messages": doubled, "max_tokens": 8, "temperature": 0}
    )
    second = http.post(
        "/v1/chat/completions", json={"model": "bob", "messages": merged, "max_tokens": 8, "temperature": 0}
    )
    assert first.status_code == second.status_code == 200
    assert first.json()["choices"] == second.json()["choices"]
    assert first.json()["usage"] == second.json()["usage"]


def test_empty_system_message_counts_as_none(http):
    with_empty = [{"role": "system", "content": "  "}, *HELLO]
    a = http.post(
        "/v1/chat/completions", json={"model": "alice", "messages": with_empty, "max_tokens": 6, "temperature": 0}
    ).json()
    b = http.post(
        "/v1/chat/completions", json={"model": "alice", "messages": HELLO, "max_tokens": 6, "temperature": 0}
    ).json()
    assert a["usage"] == b["usage"]
    assert a["choices"][0]["message"] == b["choices"][0]["message"]
