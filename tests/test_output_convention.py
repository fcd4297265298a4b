"""One output convention for the three commands: results on stdout, progress and messages on stderr.

Run as a user runs them (the installed console scripts, in their own processes), so what lands on each
stream is what a shell pipes or captures: `$(twin-train ...)` gets the result alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wechat_twin.feedback.store import FeedbackStore

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "examples" / "memotrace_sample" / "messages.csv"


def _run(script: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / script), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_twin_train_data_prints_its_summary_and_paths_on_stdout(tmp_path):
    out = tmp_path / "data"
    done = _run("twin-train", "data", SAMPLE, "--out", out)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("read ") and "samples train" in done.stdout
    assert lines[-1] == f"wrote train.jsonl, dev.jsonl, report.json, memory.sqlite to {out}"
    assert "wrote" not in done.stderr and "samples" not in done.stderr


def test_a_mistake_is_one_error_line_on_stderr_and_nothing_on_stdout(tmp_path):
    done = _run("twin-train", "data", tmp_path / "missing.csv", "--out", tmp_path / "data")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    # an option's value that is wrong: exit code 2, same stream and shape
    done = _run("twin-train", "sft", tmp_path, "--out", tmp_path / "a", "--batch-size", "0")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: --batch-size must be at least 1\n"


def test_twin_bridge_results_on_stdout_errors_on_stderr(tmp_path):
    db = tmp_path / "feedback.db"
    done = _run("twin-bridge", "export-feedback", "--out", tmp_path / "out", "--db", db)
    assert done.returncode == 2 and done.stdout == "" and done.stderr.startswith("error: ")
    FeedbackStore(db).close()
    done = _run("twin-bridge", "export-feedback", "--out", tmp_path / "out", "--db", db)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote 0 preference pairs and 0 labels to {tmp_path / 'out'}\n" and done.stderr == ""


def test_twin_server_install_model_prints_the_folder_alone(embedded_model):
    done = _run("twin-server", "install-model")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{embedded_model}\n"


def test_twin_train_demo_says_what_it_does_on_stderr_and_what_to_run_next_on_stdout(tmp_path):
    adapter = tmp_path / "adapters" / "demo-clone"
    adapter.mkdir(parents=True)
    (adapter / "twin.json").write_text('{"base_model": "SmolLM2-135M-Instruct"}', encoding="utf-8")  # built before
    done = _run("twin-train", "demo", "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"demo adapter already built: {adapter} (--force rebuilds it)\n"
    assert done.stdout.startswith(f"serve it:     twin-server serve --adapters {tmp_path / 'adapters'} ")
    assert f"twin-train eval {adapter} --data {tmp_path / 'data'}" in done.stdout
