"""`twin-train export`: the merged folder replies as base + adapter did, with the persona built into its template."""

from __future__ import annotations

import asyncio
import json
import stat

import pytest
from typer.testing import CliRunner

from bench.support import build_random_adapter
from tests.support.tiers import slow_fixture
from wechat_twin.server.engines import EngineOptions, SamplingOptions, collect, create_engine
from wechat_twin.server.prompting import build_chat, render_chat_prompt
from wechat_twin.training.cli import app

PERSONA = 'You are Jay. You say "la" a lot.\n你好 [旺柴]'
CHATS = [
    [{"role": "user", "content": "Tell me a short story about a cat."}],
    [{"role": "user", "content": "dinner tonight?"}],
    [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hey"},
        {"role": "user", "content": "what are you doing?"},
    ],
]
MAX_TOKENS = 24


@pytest.fixture(scope="module")
@slow_fixture  # merges a model; its tests generate with it
def exported(tmp_path_factory, embedded_model):
    root = tmp_path_factory.mktemp("export")
    adapter = build_random_adapter(embedded_model, root / "jay", 3, PERSONA, str(embedded_model))
    out = root / "jay-merged"
    result = CliRunner().invoke(app, ["export", str(adapter), "--out", str(out), "--ollama"])
    assert result.exit_code == 0, result.output
    return adapter, out


def _greedy(model, prompt: list[int]) -> list[int]:
    import torch

    inputs = torch.tensor([prompt])
    with torch.inference_mode():
        out = model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            max_new_tokens=MAX_TOKENS,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
        )
    return out[0, len(prompt) :].tolist()


def test_merged_model_replies_as_base_plus_adapter(exported, embedded_model):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter, out = exported
    base_tokenizer = AutoTokenizer.from_pretrained(embedded_model)
    base = AutoModelForCausalLM.from_pretrained(embedded_model, dtype=torch.float32)
    with_adapter = PeftModel.from_pretrained(base, str(adapter)).eval()
    merged_tokenizer = AutoTokenizer.from_pretrained(out)
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    for chat in CHATS:
        served_prompt = render_chat_prompt(base_tokenizer, build_chat(chat, PERSONA))
        assert render_chat_prompt(merged_tokenizer, chat) == served_prompt, "the persona is not the default system"
        assert _greedy(merged, served_prompt) == _greedy(with_adapter, served_prompt)


def test_a_client_system_prompt_still_wins_over_the_persona(exported, embedded_model):
    from transformers import AutoTokenizer

    _, out = exported
    chat = [{"role": "system", "content": "You are a pirate."}, *CHATS[0]]
    base = AutoTokenizer.from_pretrained(embedded_model)
    assert render_chat_prompt(AutoTokenizer.from_pretrained(out), chat) == render_chat_prompt(base, chat)


def test_the_server_engine_loads_the_merged_folder_as_it_is(exported, engine_name, monkeypatch):
    from transformers import AutoTokenizer

    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    _, out = exported
    prompt = render_chat_prompt(AutoTokenizer.from_pretrained(out), CHATS[1])

    async def reply() -> str:
        engine = create_engine(
            engine_name, str(out), EngineOptions(dtype="float32", max_model_len=512, enforce_eager=True)
        )
        try:
            return (await collect(engine.stream(prompt, SamplingOptions(max_tokens=8, temperature=0), "r", None), 1))[0]
        finally:
            await engine.shutdown()

    assert asyncio.run(reply()).completion_tokens > 0


def test_ollama_modelfile_carries_persona_template_and_stops(exported):
    _, out = exported
    text = (out / "Modelfile").read_text()
    assert text.startswith("FROM .\n")
    assert f'SYSTEM """{PERSONA}"""' in text
    assert "{{ .Content }}<|im_end|>" in text
    assert 'PARAMETER stop "<|im_end|>"' in text


def test_the_merged_folder_is_private_and_a_plain_hf_model(exported):
    _, out = exported
    assert "peft" not in json.dumps(json.loads((out / "config.json").read_text())).lower()
    assert not (out / "adapter_config.json").exists()
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_export_refuses_to_overwrite_and_names_the_folder(exported):
    adapter, out = exported
    result = CliRunner().invoke(app, ["export", str(adapter), "--out", str(out)])
    assert result.exit_code == 2
    assert str(out) in result.output and "--overwrite" in result.output
    into_adapter = CliRunner().invoke(app, ["export", str(adapter), "--out", str(adapter.parent), "--overwrite"])
    assert into_adapter.exit_code == 2
    assert "would delete" in into_adapter.output
