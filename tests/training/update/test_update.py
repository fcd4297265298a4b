"""`twin-train update` on a tiny Llama: only new sessions are learnt, the parent's weights are where it starts,
the memory gains the new train exchanges only, the replay share is honoured, and the card names its parent.

One parent (an export of seven sessions, all trained on) and one update (an export of the same chats plus
new sessions, one grown session and a new contact) are shared by the tests; both train two steps at most.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.tiers import slow_fixture
from tests.training.formats.export_files import SHANGHAI, T0, read_jsonl, shape_e
from wechat_twin.training.cli import app
from wechat_twin.training.dataset.pipeline import chat_key
from wechat_twin.training.update.run import read_parent

DAY = 86_400
REPLAY = 0.5
# chat id -> (friend's name, day numbers of its sessions); every session is three exchanges a minute apart
OLD = {"7": ("小王", [0, 1, 2, 3]), "8": ("Amy", [0, 1, 2])}
NEW = {"7": ("小王", [4, 5, 6]), "9": ("Bo", [-3, -2])}  # Bo's sessions are older, but were never seen
GROWN = ("8", 2)  # Amy's last session, which the old export caught before it ended


def session(chat: str, name: str, day: int, pairs: int = 3) -> list[tuple]:
    start = T0 + day * DAY
    rows = []
    for i in range(pairs):
        rows.append((chat, False, start + 120 * i, f"q {chat} {day} {i}", "", name, name))
        rows.append((chat, True, start + 120 * i + 60, f"a {chat} {day} {i} [旺柴]", "", name, name))
    return rows


def rows_of(chats: dict[str, tuple[str, list[int]]], grown: bool = False) -> list[tuple]:
    rows = [row for chat, (name, days) in chats.items() for day in days for row in session(chat, name, day)]
    if grown:
        chat, day = GROWN
        rows += session(chat, OLD[chat][0], day, pairs=4)[-2:]
    return rows


def start_of(chat: str, day: int) -> str:
    return datetime.fromtimestamp(T0 + day * DAY, SHANGHAI).isoformat()


def twin_train(*args: str | Path):
    return CliRunner().invoke(app, [*map(str, args)])


@pytest.fixture(scope="module")
@slow_fixture
def parent(tmp_path_factory, tiny_model) -> Path:
    """Seven sessions, no dev split (every one is trained on), memory on: two steps of SFT."""
    root = tmp_path_factory.mktemp("parent")
    export = shape_e(root / "old" / "messages.csv", rows_of(OLD))
    made = twin_train("data", export, "--out", root / "data", "--system-prompt", "You are Jay.", "--dev-fraction", "0")
    assert made.exit_code == 0, made.output
    trained = twin_train(
        "sft",
        root / "data",
        "--out",
        root / "adapters" / "jay",
        "--model",
        tiny_model,
        "--memory",
        "--rank",
        "8",
        "--batch-size",
        "4",
        "--max-length",
        "512",
        "--learning-rate",
        "0.05",
        "--max-steps",
        "2",
        "--evals",
        "1",
        "--dropout",
        "0",
    )
    assert trained.exit_code == 0, trained.output
    return root / "adapters" / "jay"


@pytest.fixture(scope="module")
@slow_fixture
def update(parent):
    """The update: old and new sessions in one export; a learning rate so small that one step leaves the weights
    where they started, so they can be compared with the parent's."""
    root = parent.parent.parent
    export = shape_e(root / "new" / "messages.csv", rows_of(OLD, grown=True) + rows_of(NEW))
    result = twin_train(
        "update",
        parent,
        export,
        "--out",
        root / "adapters" / "jay-2",
        "--replay",
        str(REPLAY),
        "--dev-fraction",
        "0.4",
        "--max-steps",
        "1",
        "--learning-rate",
        "1e-9",
    )
    assert result.exit_code == 0, result.output
    return result, root / "adapters" / "jay-2", root / "adapters" / ".jay-2.data"


def sessions_in(records: list[dict]) -> set[tuple[str, str]]:
    return {(r["chat"], r["session_start"]) for r in records}


def expected(chats: dict[str, list[int]]) -> set[tuple[str, str]]:
    return {(chat_key(chat), start_of(chat, day)) for chat, days in chats.items() for day in days}


def test_update_learns_only_new_sessions_and_says_how_many(update):
    result, _, data = update
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "sessions: 5 new (3 after the parent's last message), 6 already known, 1 dropped (known, but changed since)"
    )
    train = read_jsonl(data / "train.jsonl")
    new_train = [r for r in train if not r.get("replay")]
    assert sessions_in(new_train) == expected({"7": [4, 5], "9": [-3]})  # the newest new ones are dev
    assert sessions_in(read_jsonl(data / "dev.jsonl")) == expected({"7": [6], "9": [-2]})
    assert lines[-1] == str(update[1])


def test_replay_share_of_the_parents_samples(update, parent):
    _, _, data = update
    old = read_jsonl(parent.parent.parent / "data" / "train.jsonl")
    replayed = [r for r in read_jsonl(data / "train.jsonl") if r.get("replay")]
    assert len(replayed) == round(REPLAY * len(old)) > 0
    assert all({k: v for k, v in r.items() if k != "replay"} in old for r in replayed)
    report = json.loads((data / "report.json").read_text(encoding="utf-8"))
    assert report["replay"]["samples"] == len(replayed) and report["update"]["dropped"] == 1


def window_of(adapter: Path) -> dict:
    return json.loads((adapter / "window.json").read_text(encoding="utf-8"))


def test_card_names_its_parent_and_the_window_it_covers(update, parent):
    adapter = update[1]
    card = json.loads((adapter / "twin.json").read_text(encoding="utf-8"))
    parent_card = json.loads((parent / "twin.json").read_text(encoding="utf-8"))
    weights = hashlib.sha256((parent / "adapter_model.safetensors").read_bytes()).hexdigest()
    assert card["parent_adapter"] == "jay"
    assert card["parent"] == {"name": "jay", "path": str(parent), "digest": weights}
    # The sessions are in window.json, owner-only; twin.json, which the server parses at every scan, stays small
    assert "data_window" not in card and "data_window" not in parent_card
    assert all(stat.S_IMODE((folder / "window.json").stat().st_mode) == 0o600 for folder in (adapter, parent))
    window, old = window_of(adapter), window_of(parent)
    assert len(old["sessions"]) == 7 and old["sessions"].items() <= window["sessions"].items()
    new_train = {f"{chat}/{start}" for chat, start in expected({"7": [4, 5], "9": [-3]})}
    assert set(window["sessions"]) == set(old["sessions"]) | new_train  # dev sessions are not in it
    assert window["first"] == start_of("9", -3) and window["first"] < old["first"]
    assert window["last"] > old["last"] and window["last"].startswith(start_of("7", 5)[:10])
    assert card["data_options"] == parent_card["data_options"] | {"dev_fraction": 0.4}


def test_training_starts_from_the_parents_weights(update, parent):
    from safetensors.torch import load_file

    before = load_file(parent / "adapter_model.safetensors")
    after = load_file(update[1] / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    lora_b = [name for name in before if "lora_B" in name]
    assert max(before[name].abs().max().item() for name in lora_b) > 1e-4  # a fresh LoRA's B would be zero
    for name, tensor in before.items():
        assert (after[name] - tensor).abs().max().item() < 1e-6, name


def test_memory_gains_the_new_train_exchanges_and_no_dev_ones(update, parent):
    _, adapter, _ = update

    def sessions(path: Path) -> dict[str, int]:
        with sqlite3.connect(path) as conn:
            return dict(conn.execute("SELECT session, COUNT(*) FROM exchanges GROUP BY session").fetchall())

    old, new = sessions(parent / "memory.sqlite"), sessions(adapter / "memory.sqlite")
    new_train = {f"{chat}/{start}" for chat, start in expected({"7": [4, 5], "9": [-3]})}
    dev = {f"{chat}/{start}" for chat, start in expected({"7": [6], "9": [-2]})}
    assert old.items() <= new.items()
    assert set(new) == set(old) | new_train and not dev & set(new)
    assert all(new[s] == 3 for s in new_train)
    with sqlite3.connect(adapter / "memory.sqlite") as conn:  # the new rows are indexed too
        indexed = conn.execute("SELECT COUNT(*) FROM exchange_terms").fetchone()[0]
        assert indexed == sum(new.values())


def test_an_update_of_an_update_adds_its_new_sessions_to_the_window(update):
    """The same export again: the sessions the first update held out as dev are new now, the rest known."""
    _, first, _ = update
    export = first.parent.parent / "new" / "messages.csv"
    options = ("--dev-fraction", "0", "--max-steps", "1", "--learning-rate", "1e-9")
    result = twin_train("update", first, export, "--out", first.parent / "jay-3", *options)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "sessions: 2 new (1 after the parent's last message), 9 already known, 1 dropped (known, but changed since)"
    )
    window, old = window_of(first.parent / "jay-3"), window_of(first)
    first_dev = {f"{chat}/{start}" for chat, start in expected({"7": [6], "9": [-2]})}
    assert window["sessions"] == old["sessions"] | {s: window["sessions"][s] for s in first_dev}
    assert window["first"] == old["first"] and window["last"] > old["last"]


def copy_weights(parent: Path, folder: Path, card: dict) -> Path:
    """An adapter folder with `parent`'s weights and `card` as its twin.json (and no window.json)."""
    folder.mkdir()
    (folder / "twin.json").write_text(json.dumps(card), encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes((parent / "adapter_model.safetensors").read_bytes())
    return folder


def test_a_card_from_before_window_json_still_gives_its_window(tmp_path, parent):
    card = json.loads((parent / "twin.json").read_text(encoding="utf-8"))
    old = copy_weights(parent, tmp_path / "old-card", card | {"data_window": window_of(parent)})
    assert read_parent(old).window == window_of(parent)


def test_an_adapter_without_a_data_window_is_refused_with_the_reason(tmp_path, parent):
    card = json.loads((parent / "twin.json").read_text(encoding="utf-8"))
    export = shape_e(tmp_path / "messages.csv", rows_of(NEW))
    without_options = {k: v for k, v in card.items() if k != "data_options"}
    for name, written in (("no-options", without_options), ("no-window", card)):  # neither has window.json
        folder = copy_weights(parent, tmp_path / name, written)
        result = twin_train("update", folder, export, "--out", tmp_path / f"{name}-out")
        assert result.exit_code == 1
        assert "records no data options and data window" in result.output, result.output
        assert "window.json" in result.output and not (tmp_path / f"{name}-out").exists()
