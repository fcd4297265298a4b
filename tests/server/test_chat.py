"""Chat and plain completions through the official openai client, as a user's code would call them."""

from __future__ import annotations

from tests.conftest import ADAPTER_PERSONAS

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def _template_tokens(tokenizer, messages: list[dict]) -> int:
    """Prompt length as the model's own chat template counts it, without the server's prompt code."""
    return len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False))


def test_chat_reply_with_exact_usage(client, tokenizer):
    reply = client.chat.completions.create(
        model="SmolLM2-135M-Instruct", messages=QUESTION, max_tokens=12, temperature=0
    )
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    expected_prompt = _template_tokens(tokenizer, QUESTION)
    assert reply.usage.prompt_tokens == expected_prompt
    assert 0 < reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == expected_prompt + reply.usage.completion_tokens


def test_length_finish_reason_counts_every_token(client):
    reply = client.chat.completions.create(model="alice", messages=QUESTION, max_completion_tokens=7, temperature=0)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 7


def test_adapter_persona_applies_when_client_sends_no_system(client, tokenizer):
    with_persona = [{"role": "system", "content": ADAPTER_PERSONAS["alice"]}, *QUESTION]
    bare = client.chat.completions.create(model="alice", messages=QUESTION, max_tokens=8, temperature=0)
    explicit = client.chat.completions.create(model="alice", messages=with_persona, max_tokens=8, temperature=0)
    assert bare.usage.prompt_tokens == explicit.usage.prompt_tokens == _template_tokens(tokenizer, with_persona)
    assert bare.usage.prompt_tokens != _template_tokens(tokenizer, QUESTION)
    assert bare.choices[0].message.content == explicit.choices[0].message.content


def test_streaming_matches_non_streaming_and_reports_usage(client):
    kwargs = dict(model="bob", messages=QUESTION, max_tokens=16, temperature=0)
    whole = client.chat.completions.create(**kwargs)
    stream = client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
    text, finish, usage, roles = "", None, None, []
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            roles.append(choice.delta.role)
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert roles[0] == "assistant"
    assert text == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens
    assert usage.prompt_tokens == whole.usage.prompt_tokens


def test_n_choices_and_seed_reproducibility(client, tokenizer):
    kwargs = dict(model="SmolLM2-135M-Instruct", messages=QUESTION, max_tokens=10, temperature=1.0, seed=7, n=2)
    first = client.chat.completions.create(**kwargs)
    second = client.chat.completions.create(**kwargs)
    assert [c.index for c in first.choices] == [0, 1]
    assert [c.message.content for c in first.choices] == [c.message.content for c in second.choices]
    assert first.choices[0].message.content != first.choices[1].message.content
    # A choice cut at the limit has exactly max_tokens; one that ended has its text plus the end-of-turn token.
    expected = sum(
        10 if c.finish_reason == "length" else len(tokenizer.encode(c.message.content, add_special_tokens=False)) + 1
        for c in first.choices
    )
    assert first.usage.completion_tokens == expected, [(c.finish_reason, c.message.content) for c in first.choices]


def test_stop_sequence_cuts_the_reply(client):
    full = client.chat.completions.create(
        model="SmolLM2-135M-Instruct", messages=QUESTION, max_tokens=24, temperature=0
    )
    text = full.choices[0].message.content
    words = text.split()
    assert len(words) > 3, text
    stop = " " + words[2]
    cut = client.chat.completions.create(
        model="SmolLM2-135M-Instruct", messages=QUESTION, max_tokens=24, temperature=0, stop=[stop]
    )
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content == text[: text.index(stop)]


def test_content_as_list_of_text_parts(client):
    parts = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is the capital"}, {"type": "text", "text": "of France?"}],
        }
    ]
    as_parts = client.chat.completions.create(model="bob", messages=parts, max_tokens=8, temperature=0)
    as_text = client.chat.completions.create(
        model="bob",
        messages=[{"role": "user", "content": "What is the capital\nof France?"}],
        max_tokens=8,
        temperature=0,
    )
    assert as_parts.choices[0].message.content == as_text.choices[0].message.content


def test_plain_completion(client):
    reply = client.completions.create(
        model="SmolLM2-135M-Instruct", prompt="The capital of France is", max_tokens=5, temperature=0
    )
    assert reply.choices[0].text.strip()
    assert reply.usage.completion_tokens == 5
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(
            model="SmolLM2-135M-Instruct", prompt="The capital of France is", max_tokens=5, temperature=0, stream=True
        )
        if c.choices
    )
    assert streamed == reply.choices[0].text


def test_routes_answer_without_v1_prefix(http):
    body = {"model": "bob", "messages": QUESTION, "max_tokens": 6, "temperature": 0}
    with_prefix = http.post("/v1/chat/completions", json=body)
    without = http.post("/chat/completions", json=body)
    assert with_prefix.status_code == without.status_code == 200
    for key in ("model", "choices", "usage"):
        assert with_prefix.json()[key] == without.json()[key], key
    completion = {"model": "bob", "prompt": "The capital of France is", "max_tokens": 6, "temperature": 0}
    texts = [http.post(f"{prefix}/completions", json=completion).json()["choices"] for prefix in ("/v1", "")]
    assert texts[0] == texts[1]
    assert http.get("/models").json()["data"] == http.get("/v1/models").json()["data"]
