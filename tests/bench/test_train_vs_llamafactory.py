"""bench/train.py without LLaMA-Factory: both trainers are given the same run, and the goals are judged by ratio."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from unittest import mock

import pytest
from typer.testing import CliRunner

from tests.bench.loading import bench_module
from tests.deploy.files import REPO
from wechat_twin.training.cli import app
from wechat_twin.training.sft.train import ALL_LINEAR, SFTOptions

BENCH = REPO / "bench" / "train.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    with bench_module(BENCH, "train_bench") as module:
        yield module


def our_options(command: list[str]) -> SFTOptions:
    """The options `twin-train sft` builds from the bench's command line, read where the CLI hands them over."""
    assert command[1:3] == ["-m", "wechat_twin.training.cli"]
    with mock.patch("wechat_twin.training.sft.command.run_sft") as run_sft:
        result = CliRunner().invoke(app, command[3:])
    assert result.exit_code == 0, result.output
    return run_sft.call_args.args[0]


def test_both_trainers_get_the_same_lora_schedule_batch_cutoff_and_seed(bench, tmp_path: Path) -> None:
    recipe = bench.Recipe(epochs=2.0, batch_size=3)
    ours = our_options(recipe.ours(tmp_path / "data", tmp_path / "out", tmp_path / "model"))
    theirs = recipe.llamafactory(tmp_path / "lf", "wechat_twin_train", tmp_path / "lf-out", tmp_path / "model")
    pairs = {
        "rank": "lora_rank",
        "alpha": "lora_alpha",
        "dropout": "lora_dropout",
        "learning_rate": "learning_rate",
        "warmup_ratio": "warmup_ratio",
        "batch_size": "per_device_train_batch_size",
        "epochs": "num_train_epochs",
        "max_length": "cutoff_len",
        "seed": "seed",
        "grad_accum": "gradient_accumulation_steps",
    }
    for ours_name, their_name in pairs.items():
        assert getattr(ours, ours_name) == theirs[their_name], ours_name
    assert ours.lr_scheduler.value == theirs["lr_scheduler_type"]
    assert ours.target_modules == [ALL_LINEAR] and theirs["lora_target"] == "all", "every linear layer on both"
    assert ours.model == theirs["model_name_or_path"] == str(tmp_path / "model")
    assert ours.assistant_only_loss, "the owner's turns only, as LLaMA-Factory's default (train_on_prompt: false)"
    assert theirs["finetuning_type"] == "lora" and theirs["stage"] == "sft" and theirs["bf16"] is False


def test_the_goals_are_judged_by_the_ratio_of_each_measure(bench) -> None:
    tokens = 12_000
    theirs = bench.Run("llamafactory", seconds=100.0, wall=130.0, peak_kib=2_000_000, dev_loss=2.0)
    fast = bench.Run("wechat-twin", seconds=80.0, wall=100.0, peak_kib=1_900_000, dev_loss=2.03)
    ratio = bench.ratios(fast, theirs, tokens)
    assert ratio["speed"] == pytest.approx(1.25) and ratio["loss"] == pytest.approx(1.015)
    assert bench.verdict(ratio) == "met"
    worse = bench.Run("wechat-twin", seconds=90.0, wall=100.0, peak_kib=2_100_000, dev_loss=2.05)
    assert bench.verdict(bench.ratios(worse, theirs, tokens)) == "not met (speed, loss, memory)"
    assert "tokens/s 120" in bench.report_line(theirs, tokens)


def test_real_tokens_count_each_rendered_sample_up_to_the_cutoff(bench, embedded_model) -> None:
    from transformers import AutoTokenizer

    chat = [
        {"role": "system", "content": "You are Jay."},
        {"role": "user", "content": "dinner at 7?"},
        {"role": "assistant", "content": "ok la~ see you"},
    ]
    rendered = AutoTokenizer.from_pretrained(embedded_model).apply_chat_template(chat, tokenize=False)
    length = len(AutoTokenizer.from_pretrained(embedded_model)(rendered, add_special_tokens=False)["input_ids"])
    assert length > 10
    assert bench.real_tokens(embedded_model, [chat, chat], 1024) == 2 * length
    assert bench.real_tokens(embedded_model, [chat, chat], 8) == 2 * 8
