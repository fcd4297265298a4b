"""SFT sees what serving sends: `--memory` samples carry the block from the contact's *other* train sessions.

The SFT run and the eval after it are on `tiny_model`, the two-layer random Llama: what they are tested for is
what the pipeline writes and reports (the memory carried into the adapter, the card, eval's four memory rows, its
verdict and the sampling it tunes), none of which depends on what the model says; a step and an eval pass take a
fraction of the embedded model's time.
"""

from __future__ import annotations

import json
import os
import re
import stat
from functools import partial

import pytest
from typer.testing import CliRunner

from tests.support.tiers import slow_fixture
from tests.training.formats.export_files import read_jsonl, run_data
from tests.training.memory_export import TAG, tagged_export
from wechat_twin.memory.block import EXCHANGES_HEADER
from wechat_twin.server.adapters.card import read_card
from wechat_twin.training.cli import app
from wechat_twin.training.evaluate import command as evaluate_command
from wechat_twin.training.evaluate.tuning import DEFAULTS, SamplingSearch
from wechat_twin.training.sft.train import SFTOptions, check_inputs


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("memory") / "data"
    result = run_data(tagged_export(folder.parent / "m.csv"), "--out", folder, "--dev-fraction", "0.34")
    assert result.exit_code == 0, result.output
    return folder


def block_tags(messages: list[dict]) -> set[tuple[str, str]]:
    system = messages[0]["content"]
    assert EXCHANGES_HEADER in system
    return set(TAG.findall(system.split(EXCHANGES_HEADER, 1)[1]))


def test_no_sample_retrieves_its_own_session_or_any_dev_exchange(dataset, tmp_path):
    dev_tags = {TAG.search(r["messages"][1]["content"]).groups() for r in read_jsonl(dataset / "dev.jsonl")}
    assert len(dev_tags) == 4, "two dev sessions per friend"
    inputs = check_inputs(SFTOptions(data_dir=dataset, out=tmp_path / "adapters" / "m", memory=True))
    for name, plain, trained in (
        ("train", inputs.train.samples, inputs.train_messages),
        ("dev", inputs.dev.samples, inputs.dev_messages),
    ):
        assert len(trained) == len(plain)
        for sample, with_block in zip(plain, trained, strict=True):
            own = TAG.search(sample[1]["content"]).groups()
            tags = block_tags(with_block)
            assert len(tags) == 3, f"{name}: k exchanges of the same contact"
            assert own not in tags and not tags & dev_tags
            assert {chat for chat, _ in tags} == {own[0]}
            assert with_block[1:] == sample[1:] and with_block[0]["content"].startswith(sample[0]["content"])


def test_memory_k_sets_the_exchanges_per_block_and_needs_memory(dataset, tmp_path):
    inputs = check_inputs(SFTOptions(data_dir=dataset, out=tmp_path / "adapters" / "m", memory=True, memory_k=1))
    assert all(len(block_tags(sample)) == 1 for sample in inputs.train_messages)
    out = str(tmp_path / "x")
    for args, problem in (
        (["--memory", "--memory-k", "0"], "--memory-k must be in [1, 20]"),
        (["--memory-k", "2"], "--memory-k needs --memory"),
        (["--memory-k", "3"], "--memory-k needs --memory"),
    ):
        refused = CliRunner().invoke(app, ["sft", str(dataset), "--out", out, *args])
        assert refused.exit_code == 2 and problem in refused.output


def test_without_memory_the_samples_are_unchanged(dataset, tmp_path):
    inputs = check_inputs(SFTOptions(data_dir=dataset, out=tmp_path / "adapters" / "m"))
    assert inputs.train_messages == inputs.train.samples and inputs.memory is None


@pytest.fixture(scope="module")
@slow_fixture
def trained(dataset, tmp_path_factory, tiny_model):
    """One step of SFT with --memory on the tiny model: enough for the folder's contents and for eval's rows."""
    out = tmp_path_factory.mktemp("memory-adapters") / "with-memory"
    args = [
        "--model",
        str(tiny_model),
        "--rank",
        "8",
        "--batch-size",
        "4",
        "--max-length",
        "640",
        "--max-steps",
        "1",
        "--evals",
        "1",
        "--memory",
        "--memory-k",
        "2",
    ]
    result = CliRunner().invoke(app, ["sft", str(dataset), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return out


def test_memory_needs_the_file(dataset, tmp_path):
    (tmp_path / "bare").mkdir()
    for name in ("train.jsonl", "dev.jsonl"):
        (tmp_path / "bare" / name).write_bytes((dataset / name).read_bytes())
    refused = CliRunner().invoke(app, ["sft", str(tmp_path / "bare"), "--out", str(tmp_path / "x"), "--memory"])
    assert refused.exit_code == 1 and "no such memory file" in refused.output


def test_sft_carries_the_memory_into_the_adapter_with_the_plain_persona(dataset, trained):
    assert (trained / "memory.sqlite").read_bytes() == (dataset / "memory.sqlite").read_bytes()
    assert stat.S_IMODE(os.stat(trained / "memory.sqlite").st_mode) == 0o600
    card = read_card(trained)
    assert card.training_args["memory"] is True and card.memory_k == 2, "the server retrieves as training did"
    assert EXCHANGES_HEADER not in card.system_prompt, "the persona the server prepends is the plain one"


def test_eval_memory_reports_four_rows_and_a_verdict_and_tunes_sampling_into_the_card(trained, tmp_path, monkeypatch):
    """End to end on a two-point grid and one seed (9 passes, not 43): the search itself, on the whole grid and
    several seeds, is tested without a model in tests/training/evaluate/test_memory_rows.py."""
    points = [DEFAULTS, {**DEFAULTS, "temperature": 0.7, "frequency_penalty": 0.5}]
    monkeypatch.setattr(evaluate_command, "SamplingSearch", partial(SamplingSearch, points=points))
    report_dir = tmp_path / "eval"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(trained),
            "--out",
            str(report_dir),
            "--max-prompts",
            "2",
            "--max-tokens",
            "6",
            "--memory",
            "--tune-sampling",
            "--tune-seeds",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((report_dir / "eval.json").read_text())
    rows = report["memory"]["rows"]
    assert list(rows) == ["no_memory", "memory", "same_contact_random", "other_contacts"]
    assert rows["no_memory"]["perplexity"] == pytest.approx(report["perplexity"]["adapter"], rel=1e-6)
    assert len({round(r["perplexity"], 6) for r in rows.values()}) == 4, "each row scores a different prompt"
    verdict = report["memory"]["verdict"]
    for against in verdict["against"].values():
        assert against["low"] <= against["gain"] <= against["high"]
    assert "95% bootstrap interval" in verdict["text"] and "2 dev samples" in verdict["text"]
    table = (report_dir / "eval.md").read_text()
    assert all(f"| {r['title']} |" in table for r in rows.values()) and verdict["text"] in table

    tuning = report["sampling"]
    distances = [p["style_distance_to_owner"] for p in tuning["points"]]
    assert [p["sampling"] for p in tuning["points"]] == points
    assert tuning["style_distance_to_owner"]["tuned"] == min(distances)
    assert read_card(trained).sampling == tuning["tuned"]
    assert all(len(p["per_seed"]) == 1 for p in tuning["points"]) and tuning["recheck"]["seeds"] == [1]
    rechecked = tuning["recheck"]["style_distance_to_owner"]
    assert len(rechecked["defaults"]) == len(rechecked["tuned"]) == 1 and 0 <= tuning["recheck"]["tuned_closer"] <= 1
    assert "## Sampling" in table and re.search(r"On 1 fresh seeds .* closer on [01] of 1\.", table)
