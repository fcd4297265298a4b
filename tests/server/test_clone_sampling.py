"""The model card says which sampling a clone uses, and that is what a request that sends none is answered with."""

from __future__ import annotations

import httpx
import pytest

from tests.support.inprocess_server import serve_fake
from tests.support.tuned_adapter import TUNED_BUDGET, TUNED_SAMPLING, tuned_adapters
from wechat_twin.server.config import ServerSettings

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def tuned_root(tmp_path_factory, adapters_dir):
    root = tuned_adapters(adapters_dir / "alice", tmp_path_factory.mktemp("tuned-adapters"))
    tuned_adapters(adapters_dir / "alice", root, name="greedy", sampling={"temperature": 0.0})
    return root


def _card(server, model: str) -> dict:
    reply = httpx.get(f"{server.base_url}/models/{model}")
    assert reply.status_code == 200, reply.text
    return reply.json()["sampling"]


def test_the_card_shows_twin_jsons_sampling_and_budget_and_a_bare_request_gets_them(tuned_root):
    with serve_fake(ServerSettings(adapters_dir=tuned_root, aliases={"me": "tuned"})) as server:
        card = _card(server, "tuned")
        assert card == {**TUNED_SAMPLING, "presence_penalty": 0.0, "frequency_penalty": 0.0, "max_tokens": TUNED_BUDGET}
        assert _card(server, "me") == card, "an alias shows its clone's"
        listed = {m["id"]: m["sampling"] for m in httpx.get(f"{server.base_url}/models").json()["data"]}
        assert listed["tuned"] == card

        reply = httpx.post(f"{server.base_url}/chat/completions", json={"model": "tuned", "messages": HELLO})
        assert reply.status_code == 200, reply.text
        used = server.engine.seen[-1]
        assert {name: getattr(used, name) for name in card} == card, "what the card says is what was used"


def test_without_tuned_values_the_card_shows_the_servers_defaults(tuned_root):
    with serve_fake(ServerSettings(adapters_dir=tuned_root, default_max_tokens=64)) as server:
        base = _card(server, "SmolLM2-135M-Instruct")
        assert base == {
            "temperature": 1.0,
            "top_p": 1.0,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "repetition_penalty": 1.0,
            "max_tokens": 64,
        }
        assert _card(server, "tuned")["max_tokens"] == 64, "--default-max-tokens wins over twin.json's budget"


def test_show_two_without_a_temperature_uses_the_clones_and_above_zero(tuned_root, tmp_path):
    settings = ServerSettings(adapters_dir=tuned_root, feedback_db=tmp_path / "feedback.db")
    with serve_fake(settings) as server:
        for model, expected in (("tuned", TUNED_SAMPLING["temperature"]), ("greedy", 0.8)):
            body = {"model": model, "conversation": "c1", "messages": HELLO}
            reply = httpx.post(f"{server.root_url}/chat/api/pairs", json=body)
            assert reply.status_code == 200, reply.text
            used = server.engine.seen[-1]
            assert (used.n, used.temperature, used.max_tokens) == (2, expected, TUNED_BUDGET), model
