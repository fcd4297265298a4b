"""What DPO/KTO train on is what the server serves: the same persona rule, template and tokens."""

from __future__ import annotations

import pytest

from wechat_twin.server.prompting import build_chat, render_chat_prompt
from wechat_twin.training.preference.feedback import LabeledReply, PreferencePair
from wechat_twin.training.preference.metrics import reply_tokens
from wechat_twin.training.preference.rows import PromptStyle, dpo_rows, kto_rows, pairs_as_labels

PERSONA = "You are Alice. You answer like a pirate."
CONTEXT = [
    {"role": "user", "content": "在吗"},
    {"role": "user", "content": "晚上吃啥"},
    {"role": "assistant", "content": "火锅[旺柴]"},
    {"role": "user", "content": "好 几点"},
]


@pytest.fixture(scope="module")
def tokenizer(embedded_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model)


def _pair(prompt):
    return PreferencePair(prompt, "七点\n老地方见", "As an AI I do not eat.", "alice", "test:1")


def test_trained_prompt_tokens_equal_the_servers_prompt_tokens(tokenizer):
    row = dpo_rows([_pair(CONTEXT)], tokenizer, PromptStyle(PERSONA))[0]
    served_ids = render_chat_prompt(tokenizer, build_chat(CONTEXT, PERSONA))
    assert tokenizer(text=row["prompt"])["input_ids"] == served_ids
    assert PERSONA in row["prompt"] and "在吗\n晚上吃啥" in row["prompt"]
    ids, reply_start = reply_tokens(tokenizer, row["prompt"], row["chosen"], max_length=None)
    assert ids[:reply_start] == served_ids
    assert tokenizer.decode(ids[reply_start:]) == "七点\n老地方见" + tokenizer.eos_token


def test_a_clients_own_system_prompt_is_kept_unless_the_server_overrides_it(tokenizer):
    context = [{"role": "system", "content": "Be brief."}, *CONTEXT]
    kept = dpo_rows([_pair(context)], tokenizer, PromptStyle(PERSONA))[0]["prompt"]
    replaced = dpo_rows([_pair(context)], tokenizer, PromptStyle(PERSONA, persona_override=True))[0]["prompt"]
    assert "Be brief." in kept and PERSONA not in kept
    assert PERSONA in replaced and "Be brief." not in replaced


def test_a_choice_becomes_one_good_and_one_bad_reply_for_kto(tokenizer):
    labels = pairs_as_labels([_pair(CONTEXT)])
    assert [(r.completion, r.label) for r in labels] == [("七点\n老地方见", True), ("As an AI I do not eat.", False)]
    rows = kto_rows([*labels, LabeledReply(CONTEXT, "ok", True, "alice", "t:2")], tokenizer, PromptStyle(PERSONA))
    assert len({row["prompt"] for row in rows}) == 1
    assert [row["label"] for row in rows] == [True, False, True]
