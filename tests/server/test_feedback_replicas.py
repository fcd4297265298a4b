"""Several server replicas share one feedback store on PostgreSQL (`--feedback-db postgresql://...`): what the
chat page sends to any of them lands once, in one database, and a pair is chosen once whichever replica is asked.

Two real servers over HTTP (the app with the small fake engine, tests/support/inprocess_server.py) and a real
PostgreSQL server (tests/support/postgres.py).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest

from tests.support.inprocess_server import serve_fake
from wechat_twin.feedback.store import FeedbackStore
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.keys import ChatKey

BASE = "SmolLM2-135M-Instruct"
KEYS = {"lin": "lin-chat-key-0123456789", "tom": "tom-chat-key-0123456789"}
LABELS_PER_KEY_AND_REPLICA = 20  # under the per-key rate (30 a minute) each replica keeps


@pytest.fixture
def replicas(embedded_model, postgres_url):
    chat_keys = {name: ChatKey(key=key, clones=["*"]) for name, key in KEYS.items()}
    with ExitStack() as stack:
        servers = [
            stack.enter_context(serve_fake(ServerSettings(chat_keys=chat_keys, feedback_db=postgres_url)))
            for _ in range(2)
        ]
        yield servers


def _post(server, key: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{server.root_url}/chat/api/{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def _context(conversation: str, text: str) -> dict:
    return {"model": BASE, "conversation": conversation, "messages": [{"role": "user", "content": text}]}


def test_two_replicas_writing_labels_at_once_lose_nothing(replicas, postgres_url):
    def send(replica: int, name: str) -> list[int]:
        ids = []
        for n in range(LABELS_PER_KEY_AND_REPLICA):
            body = {**_context(f"{replica}-{name}", f"{replica}/{name}/{n}"), "reply": "hi", "good": n % 2 == 0}
            reply = _post(replicas[replica], KEYS[name], "labels", body)
            assert reply.status_code == 200, reply.text
            ids.append(reply.json()["exchange_id"])
        return ids

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda job: send(*job), [(r, name) for r in range(2) for name in KEYS]))
    ids = [i for batch in results for i in batch]
    expected = 2 * len(KEYS) * LABELS_PER_KEY_AND_REPLICA
    assert len(set(ids)) == expected, "every write got an id of its own"
    store = FeedbackStore(postgres_url)
    try:
        labels = store.unpaired_labels()
    finally:
        store.close()
    assert sorted(label["prompt"][-1]["content"] for label in labels) == sorted(
        f"{r}/{name}/{n}" for r in range(2) for name in KEYS for n in range(LABELS_PER_KEY_AND_REPLICA)
    )


def test_a_pair_made_on_one_replica_is_chosen_once_whichever_replica_is_asked(replicas, postgres_url):
    key = KEYS["lin"]
    pair = _post(replicas[0], key, "pairs", {**_context("c1", "hotpot?"), "max_tokens": 4})
    assert pair.status_code == 200, pair.text
    exchange_id = pair.json()["exchange_id"]
    start = threading.Barrier(2)

    def choose(replica: int) -> int:
        start.wait()
        return _post(replicas[replica], key, f"pairs/{exchange_id}/choice", {"chosen": replica}).status_code

    with ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(choose, range(2)))
    assert codes == [200, 409]
    store = FeedbackStore(postgres_url)
    try:
        assert len(store.preference_pairs()) == 1
    finally:
        store.close()
