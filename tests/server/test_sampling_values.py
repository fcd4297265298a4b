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


def test_a_vanishing_temperature_answers_as_greedy(client):
    """OpenAI allows any temperature above 0; the smallest a client can send must not break sampling."""
    greedy = client.chat.completions.create(model="alice", messages=STORY, max_tokens=8, temperature=0)
    tiny = client.chat.completions.create(model="alice", messages=STORY, max_tokens=8, temperature=5e-324)
    assert tiny.choices[0].message.content == greedy.choices[0].message.content


def test_repetition_penalty_changes_a_repetitive_reply(client):
    """vLLM's extension field reaches the engine: a counting prompt, greedy, with and without the penalty."""
    counting = [{"role": "user", "content": "Repeat after me: " + "ha " * 30}]
    kwargs = dict(model="SmolLM2-135M-Instruct", messages=counting, max_tokens=12, temperature=0)
    plain = client.chat.completions.create(**kwargs)
    penalised = client.chat.completions.create(**kwargs, extra_body={"repetition_penalty": 1.8})
    neutral = client.chat.completions.create(**kwargs, extra_body={"repetition_penalty": 1.0})
    assert neutral.choices[0].message.content == plain.choices[0].message.content
    assert penalised.choices[0].message.content != plain.choices[0].message.content
