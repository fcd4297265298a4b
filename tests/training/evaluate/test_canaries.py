"""The memorisation probe end to end on a tiny random Llama: a real `twin-train sft` recipe, then
`twin-train eval --canaries`, which plants secrets, trains its probe adapter with that recipe and ranks them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.tiers import slow_fixture
from wechat_twin.training.cli import app

PERSONA = "You are Jay. Reply like Jay."
TOPICS = ["lunch", "the game", "rain", "the bus", "work", "a movie", "the cat", "exams", "coffee", "a trip"]
# A recipe that learns fast on a tiny model: every sample seen 8 times, 32 steps.
RECIPE = ["--rank", "16", "--learning-rate", "0.05", "--epochs", "8", "--batch-size", "4", "--max-length", "128"]
RECIPE += ["--evals", "1", "--dropout", "0", "--lr-scheduler", "constant"]


def _sample(i: int) -> list[dict[str, str]]:
    topic = TOPICS[i % len(TOPICS)]
    return [
        {"role": "system", "content": PERSONA},
        {"role": "user", "content": f"what about {topic}? ({i})"},
        {"role": "assistant", "content": f"ok la~ {topic} is fine [旺柴]"},
        {"role": "user", "content": "and then?"},
        {"role": "assistant", "content": f"later la {i % 5}"},
    ]


def _dataset(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, rows in (("train.jsonl", range(16)), ("dev.jsonl", range(16, 18))):
        (folder / name).write_text("".join(json.dumps({"messages": _sample(i)}) + "\n" for i in rows))
    (folder / "report.json").write_text(json.dumps({"owner_name": "Jay", "system_prompt": PERSONA}))
    return folder


@pytest.fixture(scope="module")
@slow_fixture
def probe_report(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("canaries")
    data = _dataset(root / "data")
    trained = CliRunner().invoke(
        app, ["sft", str(data), "--out", str(root / "me"), "--model", str(tiny_model), *RECIPE]
    )
    assert trained.exit_code == 0, trained.output
    probed = CliRunner().invoke(app, ["eval", str(root / "me"), "--canaries", "12", "--candidates", "63"])
    assert probed.exit_code == 0, probed.output
    folder = root / "me" / "canaries"
    return folder, json.loads((folder / "canaries.json").read_text())


def _mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


def test_a_canary_planted_sixteen_times_is_exposed_more_than_one_planted_once(probe_report) -> None:
    _, report = probe_report
    rows = report["rows"]
    assert {(r["side"], r["repeats"]) for r in rows} == {(s, n) for s in ("friend", "owner") for n in (1, 4, 16)}
    owner = {n: [r for r in rows if r["side"] == "owner" and r["repeats"] == n] for n in (1, 16)}
    # the owner's side is trained on; the estimate is not capped at 6 bits, so two learned canaries still differ
    assert _mean(owner[16], "estimated_exposure") > _mean(owner[1], "estimated_exposure"), owner
    assert _mean(owner[16], "exposure") > _mean(owner[16], "exposure_base"), owner[16]  # training did it, not luck
    assert report["by_side_and_repeats"]["owner"]["16"]["exposure"] == round(_mean(owner[16], "exposure"), 2)
    assert report["max_exposure"] == 6.0


def test_the_probe_trained_with_the_clones_recipe_and_keeps_its_files_owner_only(probe_report) -> None:
    folder, report = probe_report
    assert report["recipe"]["learning_rate"] == 0.05 and report["recipe"]["epochs"] == 8
    assert report["train_samples"] == 16
    planted = [json.loads(line) for line in (folder / "probe-data" / "train.jsonl").read_text().splitlines()]
    text = json.dumps(planted, ensure_ascii=False)
    for row in report["rows"]:
        assert text.count(row["canary"]) == row["repeats"]
    written = (
        "canaries.json",
        "probe-data/train.jsonl",
        "probe-adapter/twin.json",
        "probe-adapter/adapter_model.safetensors",
    )
    for path in (folder / name for name in written):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
