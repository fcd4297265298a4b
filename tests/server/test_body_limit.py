"""Over real HTTP, a body past the default 1 MiB limit gets 413 even when it comes chunked, with no
Content-Length to refuse it by (the --max-body-bytes flag itself: test_serve_options.py)."""

from __future__ import annotations

import json


def test_a_chunked_body_past_the_limit_gets_413(http):
    body = json.dumps({"model": "bob", "messages": [{"role": "user", "content": "x" * (2 << 20)}]}).encode()
    pieces = (body[start : start + 65536] for start in range(0, len(body), 65536))
    response = http.post("/v1/chat/completions", content=pieces, headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "request_too_large"
