"""A client that goes away mid-stream must free the engine, not keep generating for nobody."""

from __future__ import annotations

import time

import httpx


def _in_flight(twin_server) -> int:
    return httpx.get(f"{twin_server.root_url}/health").json()["in_flight"]


def test_disconnect_mid_stream_aborts_generation(twin_server):
    counting = ", ".join(str(i) for i in range(1, 40))
    body = {"model": "alice", "prompt": counting, "max_tokens": 900, "temperature": 0, "stream": True}
    headers = {"Authorization": f"Bearer {twin_server.api_key}"}
    with httpx.stream("POST", f"{twin_server.base_url}/completions", json=body, headers=headers,
                      timeout=60) as response:  # fmt: skip
        assert response.status_code == 200
        chunks = 0
        for line in response.iter_lines():
            chunks += line.startswith("data: ")
            if chunks == 3:
                assert _in_flight(twin_server) == 1
                break
    deadline = time.monotonic() + 10
    while _in_flight(twin_server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _in_flight(twin_server) == 0, "generation kept running after the client left"
