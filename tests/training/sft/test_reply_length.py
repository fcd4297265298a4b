"""twin.json records the owner's long-reply length in base-model tokens: the server's default reply budget."""

from __future__ import annotations

from transformers import AutoTokenizer

from wechat_twin.training.sft.reply_length import owner_reply_tokens_p99


def test_the_p99_is_the_owners_longest_turns_in_tokens(embedded_model):
    tokenizer = AutoTokenizer.from_pretrained(embedded_model)
    short, long = "ok", "we walked along the river for hours and then ate noodles at the night market"
    long_tokens = len(tokenizer(long, add_special_tokens=False)["input_ids"])
    samples = [[{"role": "user", "content": long * 5}, {"role": "assistant", "content": short}]] * 99
    samples.append([{"role": "user", "content": "and?"}, {"role": "assistant", "content": long}])
    assert owner_reply_tokens_p99(tokenizer, samples) == 1, "99 of 100 turns are one token: p99 is theirs"
    samples.append([{"role": "user", "content": "more?"}, {"role": "assistant", "content": long}])
    assert owner_reply_tokens_p99(tokenizer, samples) == long_tokens
    assert owner_reply_tokens_p99(tokenizer, [[{"role": "user", "content": "hi"}]]) is None
