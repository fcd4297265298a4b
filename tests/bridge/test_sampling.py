"""The bridge sends no sampling values unless the owner set them, so the clone's own (twin.json) apply.

The real server (the app over HTTP, its small fake engine recording what it was asked to generate with).
"""

from __future__ import annotations

import pytest

from tests.bridge.conftest import Harness, friend_message
from tests.support.inprocess_server import serve_fake
from tests.support.tuned_adapter import TUNED_BUDGET, TUNED_SAMPLING, tuned_adapters
from wechat_twin.bridge.config import BridgeConfig
from wechat_twin.server.config import ServerSettings


@pytest.fixture(scope="module")
def server(tmp_path_factory, adapters_dir):
    root = tuned_adapters(adapters_dir / "alice", tmp_path_factory.mktemp("tuned-adapters"))
    with serve_fake(ServerSettings(adapters_dir=root)) as running:
        yield running


def _answer(server, tmp_path, **settings) -> None:
    config = BridgeConfig(
        api_base=server.base_url, model="tuned", data_dir=tmp_path, retries=0, typing_seconds_per_char=0.0, **settings
    )
    harness = Harness(config)
    try:
        harness.receive(friend_message("dinner tonight?"))
        assert harness.bridge.process_pending() == 1
        assert harness.channel.to("@friend01"), "the friend got the reply"
    finally:
        harness.bridge.close()


def test_by_default_the_bridge_sends_no_sampling_and_the_server_uses_twin_json(server, tmp_path):
    _answer(server, tmp_path)
    used = server.engine.seen[-1]
    assert (used.temperature, used.top_p, used.repetition_penalty) == (
        TUNED_SAMPLING["temperature"],
        TUNED_SAMPLING["top_p"],
        TUNED_SAMPLING["repetition_penalty"],
    )
    assert used.max_tokens == TUNED_BUDGET, "the reply budget twin.json's reply length gives"


def test_what_the_owner_sets_is_sent_and_the_rest_stays_the_clones(server, tmp_path):
    _answer(server, tmp_path, temperature=1.3, max_tokens=9)
    used = server.engine.seen[-1]
    assert (used.temperature, used.max_tokens) == (1.3, 9)
    assert (used.top_p, used.repetition_penalty) == (TUNED_SAMPLING["top_p"], TUNED_SAMPLING["repetition_penalty"])
