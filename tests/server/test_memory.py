"""Per-contact memory in serving: a request that names a contact gets that contact's past exchanges and the
facts in its prompt; every other request's prompt is byte for byte what it was without memory."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ADAPTER_PERSONAS
from tests.support.memory import EXCHANGES, JIE, MOM, UNSHARED_FACT, served_with_memory, write_memory
from tests.support.tiers import slow_fixture
from wechat_twin.server.adapters.card import read_card, write_card
from wechat_twin.server.engines.base import SamplingOptions
from wechat_twin.server.prompting import build_chat, render_chat_prompt

MESSAGES = [{"role": "user", "content": "we had hotpot again today"}]
NAME = "alice-memory"
ONE_EXCHANGE = "alice-memory-k1"
TUNED = {"temperature": 0.3, "top_p": 0.7, "frequency_penalty": 0.4}


def plain_prompt(tokenizer) -> list[int]:
    return render_chat_prompt(tokenizer, build_chat(MESSAGES, ADAPTER_PERSONAS["alice"]))


@pytest.fixture(scope="module")
def memory_adapter(twin_server):
    """Alice's weights and card, plus a memory file, loaded into the running server at run time."""
    with served_with_memory(twin_server, NAME) as name:
        yield name


def ask(http, model: str, headers: dict | None = None, **fields) -> dict:
    body = {"model": model, "messages": MESSAGES, "max_tokens": 12, "temperature": 0, **fields}
    response = http.post("/v1/chat/completions", json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def test_without_a_contact_the_prompt_and_reply_are_those_of_the_same_adapter_without_memory(
    http, memory_adapter, tokenizer
):
    plain, remembered = ask(http, "alice"), ask(http, memory_adapter)
    assert remembered["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"] == len(plain_prompt(tokenizer))
    assert remembered["choices"][0]["message"]["content"] == plain["choices"][0]["message"]["content"]
    unknown = ask(http, memory_adapter, user="someone the memory never saw")
    assert unknown["usage"]["prompt_tokens"] == len(plain_prompt(tokenizer))
    base = ask(http, "SmolLM2-135M-Instruct", user="妈妈")
    assert base["usage"]["prompt_tokens"] == len(render_chat_prompt(tokenizer, build_chat(MESSAGES)))


def test_a_named_contact_lengthens_the_prompt_by_their_memory(http, memory_adapter, tokenizer):
    by_user = ask(http, memory_adapter, user="妈妈")
    by_header = ask(http, memory_adapter, headers={"X-Twin-Contact": quote("妈妈")})
    assert by_user["usage"]["prompt_tokens"] == by_header["usage"]["prompt_tokens"]
    assert by_user["usage"]["prompt_tokens"] > len(plain_prompt(tokenizer)) + 40


@pytest.fixture(scope="module")
@slow_fixture
def spied_app(embedded_model: Path, adapters_dir: Path, tmp_path_factory):
    """The real app and engine in process, the engine's `stream` wrapped to record the token ids it receives."""
    from fastapi.testclient import TestClient

    from wechat_twin.server.app import create_app
    from wechat_twin.server.config import ServerSettings
    from wechat_twin.server.engines.base import EngineOptions

    folder = tmp_path_factory.mktemp("spied-adapters")
    shutil.copytree(adapters_dir / "alice", folder / NAME)
    write_memory(folder / NAME)
    card = read_card(folder / NAME)
    write_card(folder / NAME, card.model_copy(update={"sampling": TUNED}))
    shutil.copytree(folder / NAME, folder / ONE_EXCHANGE)
    write_card(folder / ONE_EXCHANGE, card.model_copy(update={"memory_k": 1}))
    options = EngineOptions(max_model_len=1024, max_lora_rank=8, dtype="float32", enforce_eager=True)
    settings = ServerSettings(
        model=str(embedded_model),
        served_name="SmolLM2-135M-Instruct",
        adapters_dir=folder,
        engine="transformers",
        engine_options=options,
    )
    received: list[tuple[list[int], SamplingOptions]] = []
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        engine = client.app.state.engine
        stream = engine.stream

        def recording(prompt_token_ids, options, *args, **kwargs):
            received.append((list(prompt_token_ids), options))
            return stream(prompt_token_ids, options, *args, **kwargs)

        engine.stream = recording
        yield client, received


def engine_received(spied_app, headers: dict | None = None, **fields) -> list[int]:
    return engine_request(spied_app, headers, **{"temperature": 0, **fields})[0]


def engine_request(spied_app, headers: dict | None = None, **fields) -> tuple[list[int], SamplingOptions]:
    client, received = spied_app
    body = {"model": NAME, "messages": MESSAGES, "max_tokens": 2, **fields}  # `model` in fields wins
    response = client.post("/v1/chat/completions", json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    return received[-1]


def test_the_engine_receives_todays_prompt_byte_for_byte_without_a_known_contact(spied_app, tokenizer):
    today = plain_prompt(tokenizer)
    assert engine_received(spied_app) == today
    assert engine_received(spied_app, user="") == today
    assert engine_received(spied_app, user="a stranger") == today


def test_the_engine_receives_the_named_contacts_exchanges_and_facts(spied_app, tokenizer):
    for fields, headers in (({"user": "妈妈"}, None), ({}, {"X-Twin-Contact": quote("妈妈")}), ({"user": MOM}, None)):
        prompt = tokenizer.decode(engine_received(spied_app, headers, **fields))
        assert ADAPTER_PERSONAS["alice"] in prompt
        mom = [e for e in EXCHANGES if e.contact == MOM]
        assert all(e.friend in prompt and e.owner in prompt for e in mom)
        assert "I live in Shenzhen." in prompt and "Mom grows tomatoes on the balcony." in prompt
        assert UNSHARED_FACT not in prompt, "a fact the owner did not mark shared reaches no contact"
        assert not any(e.friend in prompt for e in EXCHANGES if e.contact == JIE)
        assert "Jie is my college roommate." not in prompt
        assert prompt.index("Did you eat hotpot") < prompt.index("we had hotpot again today")


def test_the_engine_receives_as_many_exchanges_as_the_adapter_was_trained_with(spied_app, tokenizer):
    prompt = tokenizer.decode(engine_received(spied_app, model=ONE_EXCHANGE, user="妈妈"))
    shown = [e for e in EXCHANGES if e.friend in prompt]
    assert [e.friend for e in shown] == ["Did you eat hotpot with your friends?"], "the one most like the message"
    assert "I live in Shenzhen." in prompt, "the facts do not count against k"


def test_the_adapters_tuned_sampling_fills_what_a_request_leaves_unset(spied_app):
    _, unset = engine_request(spied_app)
    assert (unset.temperature, unset.top_p, unset.frequency_penalty, unset.presence_penalty) == (0.3, 0.7, 0.4, 0.0)
    _, sent = engine_request(spied_app, temperature=0.9, frequency_penalty=0.0)
    assert (sent.temperature, sent.top_p, sent.frequency_penalty) == (0.9, 0.7, 0.0)


def test_the_server_log_carries_no_retrieved_text(http, memory_adapter, twin_server):
    ask(http, memory_adapter, user="妈妈")
    log = twin_server.log_path.read_text(encoding="utf-8", errors="replace")
    assert f"model={memory_adapter}" in log, "the request was logged, without its text"
    assert not any(e.friend in log or e.owner in log for e in EXCHANGES)
    assert "Mom grows tomatoes" not in log
