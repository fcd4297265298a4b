"""chatgpt-on-wechat, both generations, sending exactly what it sends to our base URL.

1.x goes through `openai==0.27.8` (`openai.ChatCompletion.create(api_base=...)`), run in
a subprocess from the folder scripts/setup.sh installs it into; 2.x posts with its own
HTTP client, always with a system message, and treats a reply without usage, or with
0 completion tokens, as an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

OPENAI_027 = Path(__file__).resolve().parents[2] / ".cache" / "openai-0.27.8"
CHARACTER_DESC = "你是我的好朋友。"


def _cow2_body(**overrides) -> dict:
    body = {
        "model": "alice",
        "messages": [{"role": "system", "content": CHARACTER_DESC}, {"role": "user", "content": "hi, what's up?"}],
        "temperature": 0.9,
        "top_p": 1,
        "frequency_penalty": 0.0,
        "presence_penalty": 0.0,
        "stream": False,
    }
    body.update(overrides)
    return body


def _post(twin_server, body: dict) -> httpx.Response:
    return httpx.post(
        f"{twin_server.base_url}/chat/completions",
        json=body,
        timeout=120,
        headers={"Authorization": f"Bearer {twin_server.api_key}"},
    )


def test_cow2_plain_reply_has_usage_it_accepts(twin_server):
    reply = _post(twin_server, _cow2_body(max_tokens=16)).json()
    assert reply["choices"][0]["message"]["content"]
    assert reply["usage"]["completion_tokens"] > 0
    assert reply["usage"]["total_tokens"] == reply["usage"]["prompt_tokens"] + reply["usage"]["completion_tokens"]


def test_cow2_retry_after_failure_sends_two_user_messages(twin_server):
    """Its retry repeats the user turn; the reply is the one to both turns joined as one burst."""
    messages = [
        {"role": "system", "content": CHARACTER_DESC},
        {"role": "user", "content": "hello?"},
        {"role": "user", "content": "hello??"},
    ]
    joined = [{"role": "system", "content": CHARACTER_DESC}, {"role": "user", "content": "hello?\nhello??"}]
    response = _post(twin_server, _cow2_body(messages=messages, max_tokens=8, temperature=0))
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] > 0
    once = _post(twin_server, _cow2_body(messages=joined, max_tokens=8, temperature=0)).json()
    assert response.json()["choices"] == once["choices"]
    assert response.json()["usage"] == once["usage"]


def test_cow2_agent_mode_tools_are_answered_as_text(twin_server):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "web_search",
                "description": "search",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ]
    response = _post(twin_server, _cow2_body(tools=tools, tool_choice="auto", max_tokens=8))
    assert response.status_code == 200, response.text
    message = response.json()["choices"][0]["message"]
    assert message["content"] and not message.get("tool_calls")


def test_cow2_streaming(twin_server):
    body = _cow2_body(stream=True, max_tokens=12, temperature=0)
    text, done = "", False
    with httpx.stream(
        "POST",
        f"{twin_server.base_url}/chat/completions",
        json=body,
        timeout=120,
        headers={"Authorization": f"Bearer {twin_server.api_key}"},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                break
            for choice in json.loads(line[6:])["choices"]:
                text += choice["delta"].get("content") or ""
    assert done and text
    whole = _post(twin_server, {**body, "stream": False}).json()
    assert text == whole["choices"][0]["message"]["content"]


COW1_MESSAGES = [{"role": "system", "content": CHARACTER_DESC}, {"role": "user", "content": "早上好"}]
COW1_SCRIPT = """
import json, sys, openai
kwargs = json.loads(sys.argv[1])
if kwargs.pop("stream", False):
    parts = [c["choices"][0]["delta"].get("content", "") for c in openai.ChatCompletion.create(stream=True, **kwargs)]
    print(json.dumps({"text": "".join(parts)}))
else:
    print(json.dumps(openai.ChatCompletion.create(**kwargs)))
"""


def _cow1(twin_server, **kwargs) -> dict:
    if not (OPENAI_027 / "openai" / "__init__.py").is_file():
        pytest.fail(f"openai==0.27.8 is missing from {OPENAI_027}: run scripts/setup.sh")
    call = {
        "api_base": twin_server.base_url,
        "api_key": twin_server.api_key,
        "model": "alice",
        "messages": COW1_MESSAGES,
        "temperature": 0.9,
        "top_p": 1,
        "frequency_penalty": 0.0,
        "presence_penalty": 0.0,
        "request_timeout": 120,
        "max_tokens": 12,
        **kwargs,
    }
    env = {**os.environ, "PYTHONPATH": str(OPENAI_027)}
    done = subprocess.run(
        [sys.executable, "-c", COW1_SCRIPT, json.dumps(call)], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_cow1_openai_0_27_8_chat_completion(twin_server):
    reply = _cow1(twin_server)
    assert reply["choices"][0]["message"]["content"]
    assert reply["usage"]["completion_tokens"] > 0


def test_cow1_openai_0_27_8_gets_the_modern_sdks_reply_streamed_or_not(twin_server, client):
    whole = _cow1(twin_server, temperature=0)
    streamed = _cow1(twin_server, temperature=0, stream=True)
    modern = client.chat.completions.create(
        model="alice",
        messages=COW1_MESSAGES,
        max_tokens=12,
        temperature=0,
        top_p=1,
        frequency_penalty=0.0,
        presence_penalty=0.0,
    )
    assert modern.choices[0].message.content
    assert streamed["text"] == whole["choices"][0]["message"]["content"] == modern.choices[0].message.content
    assert whole["usage"] == modern.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
