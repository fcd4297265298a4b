"""`twin-train dpo|kto` refuse, before loading any model, what cannot make a better adapter, and say why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wechat_twin.server.adapters.card import TwinCard, write_card
from wechat_twin.training.cli import app


@pytest.fixture
def parent(tmp_path: Path) -> Path:
    """A parent folder as far as the checks read it (they refuse before its weights are loaded)."""
    folder = tmp_path / "adapters" / "alice"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    write_card(folder, TwinCard(base_model="SmolLM2-135M-Instruct", system_prompt="You are Alice."))
    return folder


def _feedback(tmp_path: Path, pairs: int, good: int, bad: int, adapter: str = "alice") -> Path:
    prompt = [{"role": "user", "content": "hi"}]
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    with (folder / "preference.jsonl").open("w") as f:
        for i in range(pairs):
            record = {"prompt": prompt, "chosen": f"yo {i}", "rejected": "Hello.", "adapter": adapter}
            f.write(json.dumps(record) + "\n")
    with (folder / "unpaired.jsonl").open("w") as f:
        for i in range(good + bad):
            record = {"prompt": prompt, "completion": f"reply {i}", "label": i < good, "adapter": adapter}
            f.write(json.dumps(record) + "\n")
    return folder


def _run(*args: str | Path) -> tuple[int, str]:
    """`twin-train ARGS` in this process: the same command as the console script, without a new interpreter
    importing torch, transformers and TRL for each refusal (20-50 s apiece on a loaded 2-core machine)."""
    done = CliRunner().invoke(app, list(map(str, args)), env={"COLUMNS": "500"})  # long tmp paths: one line
    return done.exit_code, " ".join(done.output.split())


def test_dpo_without_enough_pairs_says_how_many_and_points_to_kto(tmp_path, parent):
    code, output = _run("dpo", parent, "-f", _feedback(tmp_path, pairs=3, good=4, bad=2))
    assert code == 1
    assert "DPO needs at least 10 preference pairs" in output and "the feedback has 3" in output
    assert "it does have 6 good/bad labels, which `twin-train kto` learns from" in output
    assert not (parent.parent / "alice-dpo").exists()


def test_kto_needs_both_good_and_bad_replies(tmp_path, parent):
    code, output = _run("kto", parent, "-f", _feedback(tmp_path, pairs=0, good=12, bad=0))
    assert code == 1
    assert "KTO needs both good and bad labels" in output and "12 good and 0 bad" in output
    assert "no bad reply" in output


def test_kto_counts_choices_as_labels_unless_told_not_to(tmp_path, parent):
    feedback = _feedback(tmp_path, pairs=4, good=3, bad=0)
    code, output = _run("kto", parent, "-f", feedback, "--no-use-pairs")
    assert code == 1 and "3 good and 0 bad" in output
    code, output = _run("kto", parent, "-f", feedback, "--min-feedback", "20")
    assert code == 1 and "7 good and 4 bad" in output and "11 labelled replies where at least 20" in output


def test_feedback_given_to_another_adapter_is_not_used_silently(tmp_path, parent):
    code, output = _run("dpo", parent, "-f", _feedback(tmp_path, pairs=12, good=0, bad=0, adapter="bob"))
    assert code == 1
    assert "no records for adapter(s) alice (it has bob: 12)" in output and "--feedback-adapter" in output


def test_an_existing_output_folder_is_kept(tmp_path, parent):
    taken = parent.parent / "alice-dpo"
    taken.mkdir()
    (taken / "adapter_model.safetensors").write_bytes(b"keep me")
    code, output = _run("dpo", parent, "-f", _feedback(tmp_path, pairs=12, good=0, bad=0))
    assert code == 1 and "already exists and is not empty (pass --overwrite" in output
    code, output = _run("dpo", parent, "-f", _feedback(tmp_path, pairs=2, good=0, bad=0), "--overwrite")
    assert code == 1 and "DPO needs at least 10" in output
    assert (taken / "adapter_model.safetensors").read_bytes() == b"keep me", "a refused run deletes nothing"


def test_a_folder_that_is_not_an_adapter_is_named(tmp_path):
    code, output = _run("dpo", tmp_path, "-f", _feedback(tmp_path, pairs=12, good=0, bad=0))
    assert code == 1 and f"{tmp_path}: no adapter_config.json" in output
