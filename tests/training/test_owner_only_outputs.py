"""Every file the pipeline writes from a chat history is the owner's alone: data → sft → eval → dpo → export.

One run of each command on the tiny random model (a file's mode does not depend on what the model says; the
embedded model took five times as long), the smallest that still writes every kind of file
(dataset with memory and LLaMA-Factory copies, adapter with loss curve, log, memory copy and data window,
eval report and plot, the bridge's feedback database and export, the DPO child with its parent's memory,
held-out moments and window, the merged model with its Modelfile), under umask 000 so that every mode is
the code's doing. Then each output folder is walked: folders 0700, files 0600 (issue 27: adapter folders,
log_history.json, loss.png were 0755/0644).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.training.preference.test_training import FAST, _write_feedback
from wechat_twin.training.cli import app
from wechat_twin.training.demo import SAMPLE_EXPORT

pytestmark = pytest.mark.slow
# One step each is enough to write every file; the sample export's persona needs more than FAST's 64 tokens.
DPO_OVERRIDES = ["--max-steps", "1", "--max-length", "256"]


def _twin_train(*args: str | Path) -> None:
    """`twin-train ARGS` in this process (the umask is per process, so it applies): the same command as the
    console script, without importing torch, transformers and TRL once more for each of the five commands."""
    done = CliRunner().invoke(app, list(map(str, args)), env={"COLUMNS": "200"})
    assert done.exit_code == 0, f"{done.output[-3000:]}\n{done.exception!r}"


def _loose_modes(folder: Path) -> dict[str, str]:
    """Every path under `folder` (itself included) whose mode is not 0700 (folders) or 0600 (files)."""
    wrong = {}
    for path in [folder, *folder.rglob("*")]:
        want = 0o700 if path.is_dir() else 0o600
        if stat.S_IMODE(path.lstat().st_mode) != want:
            wrong[str(path.relative_to(folder.parent))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return wrong


def test_every_output_of_data_sft_eval_dpo_and_export_is_owner_only(tmp_path, tiny_model):
    export = tmp_path / "in" / "messages.csv"
    export.parent.mkdir()
    export.write_text("".join(SAMPLE_EXPORT.read_text(encoding="utf-8").splitlines(keepends=True)[:300]))
    data, adapters, merged = tmp_path / "data", tmp_path / "adapters", tmp_path / "merged"
    previous = os.umask(0)
    try:
        _twin_train("data", export, "--out", data, "--memory", "--llamafactory")
        _twin_train(
            "sft",
            data,
            "--out",
            adapters / "alice",
            "--memory",
            "--model",
            tiny_model,
            "--max-steps",
            "1",
            "--evals",
            "1",
            "--rank",
            "8",
            "--batch-size",
            "4",
            "--max-length",
            "256",
        )
        _twin_train("eval", adapters / "alice", "--max-prompts", "1", "--max-tokens", "4")
        feedback = _write_feedback(tmp_path / "feedback")
        _twin_train("dpo", adapters / "alice", "-f", feedback, "--out", adapters / "alice-dpo", *FAST, *DPO_OVERRIDES)
        _twin_train("export", adapters / "alice-dpo", "--out", merged, "--ollama")
    finally:
        os.umask(previous)

    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    for expected in (
        "data/memory.sqlite",
        "data/llamafactory/train.jsonl",
        "adapters/alice/loss.png",
        "adapters/alice/log_history.json",
        "adapters/alice/adapter_config.json",
        "adapters/alice/memory.sqlite",
        "adapters/alice/window.json",
        "adapters/alice/eval/eval.png",
        "feedback/feedback.db",
        "feedback/preference.jsonl",
        "adapters/alice-dpo/twin.json",
        "adapters/alice-dpo/window.json",
        "adapters/alice-dpo/memory.sqlite",
        "adapters/alice-dpo/heldout.jsonl",
        "merged/Modelfile",
    ):
        assert expected in written, f"the run wrote no {expected}: {sorted(written)}"
    for folder in (data, adapters, feedback, merged):
        assert _loose_modes(folder) == {}, folder
