"""The persona prefix and the Modelfile, on the embedded tokenizer: no model weights, no engine."""

from __future__ import annotations

import pytest

from wechat_twin.training.export.ollama import is_chatml, modelfile, stop_tokens
from wechat_twin.training.export.persona_template import with_default_system

TRICKY = 'Say "hi" \\ then {{ nothing }} {% raw %}\n第二行 [捂脸]'


@pytest.fixture(scope="module")
def tokenizer(embedded_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model)


def test_persona_with_quotes_backslashes_braces_and_chinese_renders_verbatim(tokenizer):
    chat = [{"role": "user", "content": "hey"}]
    template = with_default_system(tokenizer.chat_template, TRICKY)
    rendered = tokenizer.apply_chat_template(chat, chat_template=template, tokenize=False, add_generation_prompt=True)
    expected = tokenizer.apply_chat_template(
        [{"role": "system", "content": TRICKY}, *chat], tokenize=False, add_generation_prompt=True
    )
    assert rendered == expected


def test_chatml_modelfile_has_template_system_and_stops(tokenizer):
    stops = stop_tokens(tokenizer, [tokenizer.eos_token_id], is_chatml(tokenizer.chat_template))
    text = modelfile("You are Jay.", tokenizer.chat_template, stops)
    assert text.splitlines()[0] == "FROM ."
    assert 'SYSTEM """You are Jay."""' in text
    assert "TEMPLATE" in text
    assert text.count('PARAMETER stop "<|im_end|>"') == 1


def test_a_template_that_is_not_chatml_leaves_the_template_to_ollama():
    text = modelfile("You are Jay.", "{{ bos_token }}[INST] {{ messages[0]['content'] }} [/INST]", ["</s>"])
    assert "TEMPLATE" not in text
    assert 'PARAMETER stop "</s>"' in text


def test_a_persona_with_triple_quotes_is_refused_with_a_reason():
    with pytest.raises(ValueError, match=r"twin\.json"):
        modelfile('He said """no"""', "<|im_start|><|im_end|>", [])
