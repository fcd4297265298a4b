"""/metrics counts what each request did: one request, its tokens, one latency and one TTFT observation."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.metrics import MetricsSnapshot

HELLO = [{"role": "user", "content": "hello"}]


def _streamed_usage(http: httpx.Client, body: dict) -> dict:
    usage = None
    with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True,
                     "stream_options": {"include_usage": True}}) as response:  # fmt: skip
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                usage = json.loads(line[6:]).get("usage") or usage
    assert usage is not None
    return usage


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_one_request_moves_each_metric_by_what_it_did(http, twin_server, stream):
    body = {"model": "bob", "messages": HELLO, "max_tokens": 4, "temperature": 0}
    before = MetricsSnapshot.scrape(twin_server.root_url)
    if stream:
        usage = _streamed_usage(http, body)
    else:
        response = http.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        usage = response.json()["usage"]
    after = MetricsSnapshot.scrape(twin_server.root_url)

    assert before.rise(after, "twin_requests_total", route="chat", model="bob", status="200") == 1
    assert after.total("twin_requests_total") - before.total("twin_requests_total") == 1
    assert before.rise(after, "twin_prompt_tokens_total", model="bob") == usage["prompt_tokens"]
    assert before.rise(after, "twin_completion_tokens_total", model="bob") == usage["completion_tokens"]
    assert usage["completion_tokens"] > 0
    assert before.rise(after, "twin_request_latency_seconds_count", model="bob") == 1
    assert before.rise(after, "twin_time_to_first_token_seconds_count", model="bob") == 1
    assert after.value("twin_queue_depth") == 0
