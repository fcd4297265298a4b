"""The bridge names the contact in each request, so the server answers a friend with that friend's memory."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.bridge.conftest import friend_message
from tests.support.memory import served_with_memory


@pytest.fixture(scope="module")
def memory_model(twin_server):
    with served_with_memory(twin_server, "alice-memory-bridge") as name:
        yield name


def direct_reply(server, model: str, context: list[dict], **fields) -> str:
    body = {"model": model, "messages": context, "max_tokens": 12, "temperature": 0, **fields}
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        timeout=120,
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def test_a_friend_is_answered_with_their_own_memory(make_bridge, memory_model, twin_server):
    h = make_bridge(model=memory_model)
    h.receive(friend_message("we had hotpot again today", user="@mom01", nick="Mama", remark="妈妈"))
    assert h.bridge.process_pending() == 1
    exchange = h.bridge.feedback.last_reply("@mom01")
    context = json.loads(exchange["context"])
    with_memory = direct_reply(twin_server, memory_model, context, user="妈妈")
    assert exchange["reply"] == with_memory
    assert with_memory != direct_reply(twin_server, memory_model, context), "memory changes this reply"


def test_a_friend_who_names_themselves_mum_does_not_get_her_memory(make_bridge, memory_model, twin_server):
    """Renaming yourself "妈妈" on itchat once sent `user: 妈妈` (issue 27); the server hears the login's id."""
    h = make_bridge(model=memory_model)
    h.receive(friend_message("we had hotpot again today", user="@stranger01", nick="妈妈"))
    assert h.bridge.process_pending() == 1
    exchange = h.bridge.feedback.last_reply("@stranger01")
    context = json.loads(exchange["context"])
    assert exchange["chat_name"] == "@stranger01"
    assert exchange["reply"] == direct_reply(twin_server, memory_model, context, user="@stranger01")
    assert exchange["reply"] != direct_reply(twin_server, memory_model, context, user="妈妈"), "mum's memory differs"
