"""Requests without max_tokens get a bounded reply budget, and long histories are trimmed to fit, oldest first."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
from transformers import AutoTokenizer

from tests.support.inprocess_server import serve_fake
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.engines.base import EngineOptions

BASE = "SmolLM2-135M-Instruct"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def budget_adapters(tmp_path_factory, adapters_dir):
    """alice as built (no recorded reply length) and terse: alice's weights with a twin.json saying 20 tokens."""
    root = tmp_path_factory.mktemp("budget-adapters")
    shutil.copytree(adapters_dir / "alice", root / "alice")
    shutil.copytree(adapters_dir / "alice", root / "terse")
    card = json.loads((root / "terse" / "twin.json").read_text())
    (root / "terse" / "twin.json").write_text(json.dumps({**card, "reply_tokens_p99": 20}))
    return root


def _asked_max_tokens(server, body: dict) -> int:
    reply = httpx.post(f"{server.base_url}/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    return server.engine.seen[-1].max_tokens


def test_the_budget_comes_from_the_request_then_the_adapter_then_the_fallback(budget_adapters):
    with serve_fake(ServerSettings(adapters_dir=budget_adapters)) as server:
        assert _asked_max_tokens(server, {"model": "terse", "messages": HELLO}) == 46  # 1.5 x 20 + 16
        assert _asked_max_tokens(server, {"model": "alice", "messages": HELLO}) == 512
        assert _asked_max_tokens(server, {"model": "terse", "messages": HELLO, "max_tokens": 5}) == 5
        assert _asked_max_tokens(server, {"model": "terse", "messages": HELLO, "max_completion_tokens": 7}) == 7


def test_default_max_tokens_overrides_the_adapters_record(budget_adapters):
    with serve_fake(ServerSettings(adapters_dir=budget_adapters, default_max_tokens=64)) as server:
        assert _asked_max_tokens(server, {"model": "terse", "messages": HELLO}) == 64
        assert _asked_max_tokens(server, {"model": "alice", "messages": HELLO}) == 64


def _history(turns: int) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "You are Tom."}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"message {i}: what did you do on day {i} of the trip?"})
        messages.append({"role": "assistant", "content": f"on day {i} we walked along the river and ate noodles"})
    messages.append({"role": "user", "content": "and the last day?"})
    return messages


@pytest.fixture(scope="module")
def tokenizer(embedded_model):
    return AutoTokenizer.from_pretrained(embedded_model)


def _tokens(tokenizer, messages) -> int:
    return len(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)["input_ids"])


@pytest.mark.parametrize("stream", [False, True])
def test_a_history_that_does_not_fit_loses_its_oldest_turns(embedded_model, tokenizer, stream):
    settings = ServerSettings(engine_options=EngineOptions(max_model_len=512))
    messages = _history(30)
    with serve_fake(settings) as server:
        body = {
            "model": BASE,
            "messages": messages,
            "max_tokens": 64,
            "stream": stream,
            "stream_options": {"include_usage": True},
        }
        reply = httpx.post(f"{server.base_url}/chat/completions", json=body)
        assert reply.status_code == 200, reply.text
        dropped = int(reply.headers["x-twin-dropped-messages"])
        if stream:
            usage = json.loads(reply.text.split("\n\n")[-3].removeprefix("data: "))["usage"]
        else:
            usage = reply.json()["usage"]
    kept = [messages[0], *messages[1 + dropped :]]
    assert dropped > 0
    assert usage["prompt_tokens"] == _tokens(tokenizer, kept), "usage is not what was sent to the engine"
    assert usage["prompt_tokens"] + 64 <= 512
    one_fewer_dropped = [messages[0], *messages[dropped:]]
    assert _tokens(tokenizer, one_fewer_dropped) + 64 > 512, "more was dropped than needed"


def test_a_history_that_fits_is_sent_whole(embedded_model):
    with serve_fake(ServerSettings(engine_options=EngineOptions(max_model_len=512))) as server:
        reply = httpx.post(f"{server.base_url}/chat/completions", json={"model": BASE, "messages": _history(2)})
        assert reply.status_code == 200
        assert reply.headers["x-twin-dropped-messages"] == "0"


def test_no_trim_history_answers_400(embedded_model):
    settings = ServerSettings(engine_options=EngineOptions(max_model_len=512), trim_history=False)
    with serve_fake(settings) as server:
        reply = httpx.post(f"{server.base_url}/chat/completions", json={"model": BASE, "messages": _history(30)})
        assert reply.status_code == 400
        assert reply.json()["error"]["code"] == "context_length_exceeded"


def test_a_latest_turn_too_long_on_its_own_is_still_400(embedded_model):
    with serve_fake(ServerSettings(engine_options=EngineOptions(max_model_len=512))) as server:
        long = [{"role": "user", "content": "word " * 800}]
        chat = httpx.post(f"{server.base_url}/chat/completions", json={"model": BASE, "messages": long})
        assert chat.status_code == 400
        assert chat.json()["error"]["code"] == "context_length_exceeded"
        plain = httpx.post(f"{server.base_url}/completions", json={"model": BASE, "prompt": "word " * 800})
        assert plain.status_code == 400
