"""SFT on the embedded model: the training template, input checks, a real short run served by the real server."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from training.cli import app
from training.sft.chat_template import training_chat_template

PERSONA = "You are Jay. Reply like Jay."
SAMPLES = [
    [{"role": "system", "content": PERSONA}, {"role": "user", "content": f"question {i}?"},
     {"role": "assistant", "content": f"ok la~\nanswer {i} [旺柴]"}, {"role": "user", "content": "and then?"},
     {"role": "assistant", "content": "haiyo\nlater [捂脸]"}]
    for i in range(8)
]  # fmt: skip


def write_dataset(folder: Path, train: list, dev: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("dev.jsonl", dev)):
        (folder / name).write_text("".join(json.dumps({"messages": m}, ensure_ascii=False) + "\n" for m in rows))
    (folder / "report.json").write_text(json.dumps({"owner_name": "Jay", "system_prompt": PERSONA, "samples_train":
                                                    len(train), "samples_dev": len(dev)}))  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def tokenizer(embedded_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model)


def test_training_template_renders_like_the_served_one_and_masks_only_the_owner(tokenizer):
    template = training_chat_template(tokenizer)
    for messages in (SAMPLES[0], SAMPLES[0][1:]):
        assert tokenizer.apply_chat_template(messages, tokenize=False, chat_template=template) == \
            tokenizer.apply_chat_template(messages, tokenize=False)  # fmt: skip
    encoded = tokenizer.apply_chat_template(SAMPLES[0], chat_template=template, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)  # fmt: skip
    trained = tokenizer.decode([t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"], strict=True) if m])
    assert trained == "ok la~\nanswer 0 [旺柴]<|im_end|>\nhaiyo\nlater [捂脸]<|im_end|>\n"


def test_wrong_dataset_shape_names_file_and_line(tmp_path):
    data = write_dataset(tmp_path / "data", SAMPLES[:2], SAMPLES[:1])
    with (data / "train.jsonl").open("a") as handle:
        handle.write(json.dumps({"messages": [{"role": "assistant", "content": "hi"}]}) + "\n")
    result = CliRunner().invoke(app, ["sft", str(data), "--out", str(tmp_path / "adapters" / "x")])
    assert result.exit_code == 1
    assert f"{data / 'train.jsonl'}:3" in result.output and "start with a user turn" in result.output
    assert not (tmp_path / "adapters" / "x").exists()


def test_rank_above_server_limit_and_non_causal_base_refused_before_training(tmp_path):
    data = write_dataset(tmp_path / "data", SAMPLES[:2], SAMPLES[:1])
    too_big = CliRunner().invoke(app, ["sft", str(data), "--out", str(tmp_path / "a" / "x"), "--rank", "32"])
    assert too_big.exit_code == 1 and "above the server's --max-lora-rank 16" in too_big.output
    encoder = tmp_path / "vit"
    encoder.mkdir()
    (encoder / "config.json").write_text(json.dumps({"model_type": "vit", "hidden_size": 8}))
    not_causal = CliRunner().invoke(
        app, ["sft", str(data), "--out", str(tmp_path / "a" / "y"), "--model", str(encoder)]
    )
    assert not_causal.exit_code == 1 and "not a causal language model" in not_causal.output


def test_short_sft_writes_a_servable_adapter_that_changes_outputs(tmp_path, twin_server):
    data = write_dataset(tmp_path / "data", SAMPLES, SAMPLES[:2])
    out = twin_server.adapters_dir / "sft-test"
    result = CliRunner().invoke(app, ["sft", str(data), "--out", str(out), "--rank", "8", "--max-steps", "3",
                                      "--batch-size", "4", "--max-length", "96", "--learning-rate", "0.01",
                                      "--evals", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    card = json.loads((out / "twin.json").read_text())
    assert card["kind"] == "sft" and card["base_model"] == "SmolLM2-135M-Instruct"
    assert card["system_prompt"] == PERSONA and card["owner_name"] == "Jay"
    assert card["metrics"]["steps"] == 3 and card["metrics"]["dev_loss"] > 0 and card["metrics"]["train_loss"] > 0
    assert card["training_args"]["rank"] == 8
    assert (out / "loss.png").stat().st_size > 0
    assert stat.S_IMODE(os.stat(out / "twin.json").st_mode) == 0o600
    admin = {"Authorization": f"Bearer {twin_server.admin_key}"}
    loaded = httpx.post(f"{twin_server.base_url}/load_lora_adapter", json={"lora_name": "sft-test"}, headers=admin,
                        timeout=120)  # fmt: skip
    assert loaded.status_code == 200, loaded.text
    try:

        def reply(model: str) -> str:
            body = {
                "model": model,
                "max_tokens": 16,
                "temperature": 0,
                "messages": [{"role": "system", "content": PERSONA}, {"role": "user", "content": "question 3?"}],
            }
            response = httpx.post(f"{twin_server.base_url}/chat/completions", json=body, timeout=120,
                                  headers={"Authorization": f"Bearer {twin_server.api_key}"})  # fmt: skip
            return response.json()["choices"][0]["message"]["content"]

        assert reply("sft-test") != reply(twin_server.base_name)
    finally:
        httpx.post(f"{twin_server.base_url}/unload_lora_adapter", json={"lora_name": "sft-test"}, headers=admin)

    report_dir = tmp_path / "eval"
    evaluated = CliRunner().invoke(app, ["eval", str(out), "--data", str(data), "--out", str(report_dir),
                                         "--max-prompts", "2", "--max-tokens", "8"])  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((report_dir / "eval.json").read_text())
    assert report["prompts"] == 2
    assert report["perplexity"]["adapter"] < report["perplexity"]["base"], "training lowered the owner's perplexity"
    assert set(report["style"]) == {"base", "adapter", "owner"}
    assert report["style"]["owner"]["wechat_emoji_rate"] == 1.0
    assert "style distance to owner" in (report_dir / "eval.md").read_text()
    assert (report_dir / "eval.png").stat().st_size > 0
