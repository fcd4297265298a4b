"""A client that goes away must free the engine at once, not keep generating for nobody.

The request asks for 900 tokens of counting, far more than the engine makes in the two
seconds the abort is given, and the 499 in /metrics says the server saw the client leave
rather than the generation finish.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.metrics import MetricsSnapshot

# Wall-clock bounds on the server: run alone (scripts/test.sh), not beside another worker's training.
pytestmark = pytest.mark.serial

MAX_TOKENS = 900
COUNTING = ", ".join(str(i) for i in range(1, 40))


def _in_flight(twin_server) -> int:
    return httpx.get(f"{twin_server.root_url}/health").json()["in_flight"]


def _seconds_until_idle(twin_server, limit_s: float = 10.0) -> float:
    started = time.monotonic()
    while _in_flight(twin_server) and time.monotonic() - started < limit_s:
        time.sleep(0.05)
    assert _in_flight(twin_server) == 0, "generation kept running after the client left"
    return time.monotonic() - started


def _assert_counted_as_aborted(twin_server, before: MetricsSnapshot) -> None:
    after = MetricsSnapshot.scrape(twin_server.root_url)
    assert before.rise(after, "twin_requests_total", route="completions", model="alice", status="499") == 1
    assert before.rise(after, "twin_requests_total", route="completions", model="alice", status="200") == 0
    produced = before.rise(after, "twin_completion_tokens_total", model="alice")
    assert produced < MAX_TOKENS / 4, f"{produced} tokens: the generation was not cut short"


def test_disconnect_mid_stream_aborts_generation(twin_server):
    body = {"model": "alice", "prompt": COUNTING, "max_tokens": MAX_TOKENS, "temperature": 0, "stream": True}
    headers = {"Authorization": f"Bearer {twin_server.api_key}"}
    before = MetricsSnapshot.scrape(twin_server.root_url)
    with httpx.stream(
        "POST", f"{twin_server.base_url}/completions", json=body, headers=headers, timeout=60
    ) as response:
        assert response.status_code == 200
        chunks = 0
        for line in response.iter_lines():
            chunks += line.startswith("data: ")
            if chunks == 3:
                assert _in_flight(twin_server) == 1
                break
    assert _seconds_until_idle(twin_server) < 2.0
    _assert_counted_as_aborted(twin_server, before)


def test_disconnect_while_waiting_for_a_whole_reply_aborts_generation(twin_server):
    body = {"model": "alice", "prompt": COUNTING, "max_tokens": MAX_TOKENS, "temperature": 0}
    headers = {"Authorization": f"Bearer {twin_server.api_key}"}
    before = MetricsSnapshot.scrape(twin_server.root_url)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{twin_server.base_url}/completions", json=body, headers=headers, timeout=httpx.Timeout(60, read=1.0)
        )
    assert _seconds_until_idle(twin_server) < 2.0
    _assert_counted_as_aborted(twin_server, before)
