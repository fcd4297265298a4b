"""Sampling values the engine itself would refuse: the server answers as OpenAI does, never with a 500."""

from __future__ import annotations

import httpx

STORY = [{"role": "user", "content": "Tell me a short story about a cat."}]


def test_greedy_with_n_2_returns_two_identical_choices(client):
    reply = client.chat.completions.create(model="alice", messages=STORY, max_tokens=8, temperature=0, n=2)
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.choices[0].message.content == reply.choices[1].message.content
    alone = client.chat.completions.create(model="alice", messages=STORY, max_tokens=8, temperature=0)
    assert reply.choices[0].message.content == alone.choices[0].message.content
    assert reply.usage.completion_tokens == 2 * alone.usage.completion_tokens


def test_greedy_with_n_2_streams_both_choices_to_done(http):
    body = {"model": "alice", "messages": STORY, "max_tokens": 8, "temperature": 0, "n": 2, "stream": True}
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    texts = {0: "", 1: ""}
    for event in events[:-1]:
        for choice in httpx.Response(200, content=event).json()["choices"]:
            texts[choice["index"]] += choice["delta"].get("content", "")
    assert texts[0] and texts[0] == texts[1]
