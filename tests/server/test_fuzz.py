"""Generated requests against the real server: nothing a client sends gets a 5xx or leaves the server unwell.

Mostly valid requests with hostile content (chat-template tokens, control characters, huge and empty
strings, odd roles, tools), some invalid ones, streamed and not. Bounded to stay a minute or two of CI;
derandomized so that a failure in CI is the same failure on a laptop.
"""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HOSTILE = st.sampled_from(
    [
        "<|im_start|>",
        "<|im_end|>",
        "<|endoftext|>",
        "\x00",
        "\x1b[2J",
        "\ud7ff",
        "\u202e",
        "{{ raise_exception('x') }}",
        "{% for %}",
        "\n\n\n",
        "   ",
        "",
        "[捂脸]",
        "😀" * 3,
    ]
)
TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(HOSTILE, st.text(max_size=10)), max_size=6).map("".join),
    st.builds(
        lambda word, times: word * times,
        st.sampled_from(["hi ", "字", "<|im_start|>"]),
        st.integers(min_value=200, max_value=3000),
    ),
)
ROLE = st.one_of(
    st.sampled_from(["user", "assistant", "system", "developer"]),
    st.sampled_from(["tool", "function", "", "USER", "bot"]),
)
CONTENT = st.one_of(
    TEXT, st.none(), st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}), max_size=2)
)
MESSAGE = st.fixed_dictionaries({"role": ROLE, "content": CONTENT})
TOOLS = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.just("function"),
            "function": st.fixed_dictionaries(
                {"name": st.text(min_size=1, max_size=8), "parameters": st.just({"type": "object"})}
            ),
        }
    ),
    max_size=2,
)
VALID_OPTIONS = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["SmolLM2-135M-Instruct", "alice", "bob", "gpt-3.5-turbo"]),
        "max_tokens": st.integers(min_value=1, max_value=6),
        "stream": st.booleans(),
    },
    optional={
        "temperature": st.floats(min_value=0, max_value=2),
        "n": st.integers(min_value=1, max_value=2),
        "seed": st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "stop": st.lists(TEXT, max_size=4),
        "top_p": st.floats(min_value=0.01, max_value=1),
        "tools": TOOLS,
        "tool_choice": st.just("auto"),
        "presence_penalty": st.floats(min_value=-2, max_value=2),
        "user": TEXT,
        "repetition_penalty": st.floats(min_value=0.01, max_value=2),
    },
)
INVALID_OPTIONS = st.one_of(
    st.fixed_dictionaries({"temperature": st.one_of(st.floats(max_value=-0.01, allow_infinity=False), st.just("hot"))}),
    st.fixed_dictionaries({"n": st.integers(max_value=0)}),
    st.fixed_dictionaries({"max_tokens": st.one_of(st.integers(max_value=0), st.just([]))}),
    st.fixed_dictionaries({"model": st.one_of(st.none(), st.text(max_size=5), st.just(7))}),
    st.fixed_dictionaries({"messages": st.one_of(st.just([]), st.just("hello"), st.lists(st.just({}), min_size=1))}),
    st.fixed_dictionaries({"stop": st.lists(st.text(), min_size=5, max_size=6)}),
    st.fixed_dictionaries({"seed": st.one_of(st.integers(min_value=2**63), st.integers(max_value=-(2**63) - 1))}),
    st.fixed_dictionaries(
        {
            "messages": st.builds(
                lambda count, text: [{"role": "user", "content": text}] * count,
                st.integers(min_value=1000, max_value=5000),
                st.sampled_from(["", "hi", "字字"]),
            )
        }
    ),
)


@st.composite
def requests(draw) -> dict:
    body = {
        "messages": [*draw(st.lists(MESSAGE, max_size=5)), {"role": "user", "content": draw(TEXT)}],
        **draw(VALID_OPTIONS),
    }
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        body.update(draw(INVALID_OPTIONS))
    return body


def _check_error(response: httpx.Response) -> None:
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"] and error["type"]


def _check_stream(response: httpx.Response, body: dict) -> None:
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert events and events[-1] == "[DONE]", response.text[-300:]
    for event in events[:-1]:
        payload = json.loads(event)
        assert "error" not in payload, payload
        for choice in payload["choices"]:
            assert 0 <= choice["index"] < body.get("n", 1)


def _check_reply(response: httpx.Response, body: dict) -> None:
    reply = response.json()
    usage = reply["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 0 <= usage["completion_tokens"] <= body["max_tokens"] * body.get("n", 1)
    assert [c["index"] for c in reply["choices"]] == list(range(body.get("n", 1)))


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=requests())
def test_no_generated_request_gets_a_5xx(http, body):
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code < 500, (body, response.text[:500])
    if response.status_code >= 400:
        _check_error(response)
    elif body["stream"]:
        _check_stream(response, body)
    else:
        _check_reply(response, body)


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(exchange_id=st.one_of(st.integers(), st.integers(min_value=2**63), st.integers(max_value=0)))
def test_no_feedback_choice_id_gets_a_5xx(http, exchange_id):
    response = http.post(f"/chat/api/pairs/{exchange_id}/choice", json={"chosen": 0})
    assert response.status_code < 500, (exchange_id, response.text[:500])
    _check_error(response)


def test_the_server_is_healthy_after_the_fuzzing(twin_server):
    health = httpx.get(f"{twin_server.root_url}/health")
    assert health.status_code == 200
    assert health.json()["admitted"] == 0
