"""What one key can write into the feedback database is bounded: ids, label size and rate, each a 4xx, never a 500."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from tests.support.inprocess_server import serve_fake
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.keys import ChatKey
from wechat_twin.server.web.api.protocol import MAX_FEEDBACK_CHARS
from wechat_twin.server.web.api.rate import FEEDBACK_PER_MINUTE

BASE = "SmolLM2-135M-Instruct"
LIN, TOM = "lin-chat-key-0123456789", "tom-chat-key-0123456789"


@pytest.fixture
def server(embedded_model, tmp_path):
    chat_keys = {"lin": ChatKey(key=LIN, clones=["*"]), "tom": ChatKey(key=TOM, clones=["*"])}
    settings = ServerSettings(chat_keys=chat_keys, feedback_db=tmp_path / "feedback.db")
    with serve_fake(settings) as running:
        yield running


def _label(server, key: str, conversation: str = "c1", text: str = "hello") -> httpx.Response:
    body = {
        "model": BASE,
        "conversation": conversation,
        "messages": [{"role": "user", "content": text}],
        "reply": "hi",
        "good": True,
    }
    return httpx.post(f"{server.root_url}/chat/api/labels", json=body, headers={"Authorization": f"Bearer {key}"})


@pytest.mark.parametrize("exchange_id", [10**23, 2**63, 0, -1])
def test_a_choice_id_outside_sqlites_range_is_a_400(server, exchange_id):
    reply = httpx.post(
        f"{server.root_url}/chat/api/pairs/{exchange_id}/choice",
        json={"chosen": 0},
        headers={"Authorization": f"Bearer {LIN}"},
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == "path.exchange_id"


def test_the_largest_choice_id_is_an_unknown_pair_not_an_error(server):
    reply = httpx.post(
        f"{server.root_url}/chat/api/pairs/{2**63 - 1}/choice",
        json={"chosen": 0},
        headers={"Authorization": f"Bearer {LIN}"},
    )
    assert reply.status_code == 404, reply.text


def test_a_label_longer_than_the_limit_is_refused_and_not_stored(server, tmp_path):
    assert _label(server, LIN, text="x" * (MAX_FEEDBACK_CHARS - 10)).status_code == 200
    reply = _label(server, LIN, text="x" * (1 << 19))
    assert reply.status_code == 400, reply.text
    assert str(MAX_FEEDBACK_CHARS) in reply.json()["error"]["message"]
    with sqlite3.connect(tmp_path / "feedback.db") as db:
        assert db.execute("SELECT COUNT(*) FROM exchanges").fetchone() == (1,)


def test_one_key_past_its_feedback_rate_gets_429_and_another_key_still_writes(server, tmp_path):
    for i in range(FEEDBACK_PER_MINUTE):
        assert _label(server, LIN, conversation=f"c{i}").status_code == 200
    refused = _label(server, LIN)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "feedback_rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert _label(server, TOM).status_code == 200
    with sqlite3.connect(tmp_path / "feedback.db") as db:
        assert db.execute("SELECT COUNT(*) FROM exchanges").fetchone() == (FEEDBACK_PER_MINUTE + 1,)
