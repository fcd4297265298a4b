"""The server logs each request's route, model, status and token counts, and never what was said."""

from __future__ import annotations

SECRET = "my-bank-pin-is-8841"


def test_the_request_is_logged_without_its_text(http, twin_server):
    response = http.post(
        "/v1/chat/completions",
        json={"model": "bob", "max_tokens": 2, "temperature": 0, "messages": [{"role": "user", "content": SECRET}]},
    )
    assert response.status_code == 200, response.text
    reply = response.json()
    request_id = reply["id"].removeprefix("chatcmpl-")
    usage = reply["usage"]
    log = twin_server.log_path.read_text(errors="replace")
    line = next((line for line in log.splitlines() if f"request {request_id} " in line), None)
    assert line is not None, f"no log line for request {request_id}"
    assert (
        f"route=chat model=bob status=200 prompt_tokens={usage['prompt_tokens']} "
        f"completion_tokens={usage['completion_tokens']} "
    ) in line
    assert SECRET not in log
