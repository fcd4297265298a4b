"""Feedback in, better adapter out: a few real DPO and KTO steps on the embedded model, then served by name.

The feedback is tiny and consistent (the owner always prefers the short, cheerful reply), so a
handful of steps at a high learning rate must raise the reward accuracy on it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from safetensors.numpy import load_file

from wechat_twin.server.adapters.card import read_card

pytestmark = pytest.mark.slow

TWIN_TRAIN = str(Path(sys.executable).with_name("twin-train"))
QUESTIONS = ["free tonight?", "what are you eating", "saw the game?", "how was work", "coffee later?",
             "where are you", "you coming?", "what's up", "weekend plans?", "how is your mom", "call me later?",
             "sleep well?"]  # fmt: skip
GOOD = "haha yes!! 😂"
BAD = "As an AI language model, I cannot answer that."
FAST = ["--max-steps", "4", "--batch-size", "2", "--max-length", "64", "--lr", "1e-3", "--heldout", "0.25",
        "--min-feedback", "4"]  # fmt: skip


def _write_feedback(folder: Path) -> Path:
    """Record the feedback the way the bridge does (its real store), then export it as the bridge does."""
    from wechat_twin.feedback.export import export_feedback
    from wechat_twin.feedback.store import FeedbackStore

    folder.mkdir(parents=True)
    database = folder / "feedback.db"
    store = FeedbackStore(database)
    for i, q in enumerate(QUESTIONS):
        context = [{"role": "user", "content": q}]
        candidates = [GOOD, BAD] if i % 2 else [BAD, GOOD]
        exchange = store.record_exchange("@friend", "Mia", "alice", "SmolLM2-135M-Instruct", context,
                                         candidates=candidates)  # fmt: skip
        store.record_choice(exchange, candidates.index(GOOD), "owner")
        labeled = store.record_exchange("@friend", "Mia", "alice", "SmolLM2-135M-Instruct", context,
                                        reply=GOOD if i % 2 else BAD)  # fmt: skip
        store.record_label(labeled, bool(i % 2), "owner")
    store.close()
    export_feedback(database, folder)
    return folder


def _train(method: str, parent: Path, feedback: Path, *extra: str) -> Path:
    out = parent.parent / f"alice-{method}"
    command = [TWIN_TRAIN, method, str(parent), "-f", str(feedback), "--out", str(out), *FAST, *extra]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def parent(adapters_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's `alice` adapter (a LoRA on the embedded base with a twin.json) to continue."""
    folder = tmp_path_factory.mktemp("pref") / "adapters" / "alice"
    shutil.copytree(adapters_dir / "alice", folder)
    return folder


@pytest.fixture(scope="module")
def feedback(parent: Path) -> Path:
    return _write_feedback(parent.parent.parent / "export")


@pytest.fixture(scope="module")
def dpo_adapter(parent: Path, feedback: Path) -> Path:
    return _train("dpo", parent, feedback)


@pytest.fixture(scope="module")
def kto_adapter(parent: Path, feedback: Path) -> Path:
    """Read straight from the bridge's database, the other way in."""
    return _train("kto", parent, feedback / "feedback.db", "--no-use-pairs")


def _assert_same_lora_new_weights(child: Path, parent: Path) -> None:
    assert sorted(p.name for p in child.iterdir() if p.is_dir()) == [], "only the trained adapter is saved"
    new, old = load_file(child / "adapter_model.safetensors"), load_file(parent / "adapter_model.safetensors")
    assert new.keys() == old.keys()
    assert any(abs(new[k] - old[k]).max() > 1e-6 for k in new)
    assert json.loads((child / "adapter_config.json").read_text())["r"] == 8
    assert stat.S_IMODE((child / "twin.json").stat().st_mode) == 0o600


def _assert_card_from_parent(child: Path, parent: Path, kind: str):
    card, parent_card = read_card(child), read_card(parent)
    assert card.kind == kind and card.parent_adapter == "alice"
    assert (card.base_model, card.system_prompt) == (parent_card.base_model, parent_card.system_prompt)
    return card


def test_dpo_learns_the_owners_choices(dpo_adapter, parent):
    _assert_same_lora_new_weights(dpo_adapter, parent)
    card = _assert_card_from_parent(dpo_adapter, parent, "dpo")
    assert card.data["pairs"] == 12 and card.data["train_pairs"] == 9 and card.data["heldout_pairs"] == 3
    train = card.metrics["train"]["pairs"]
    assert train["before"]["reward_accuracy"] == 0.0 and train["before"]["reward_margin"] == 0.0
    assert train["after"]["reward_accuracy"] > 0.5 and train["after"]["reward_margin"] > 0
    heldout = card.metrics["heldout"]["pairs"]
    assert heldout["count"] == 3 and heldout["after"]["reward_margin"] > 0
    assert card.metrics["trainer"]["steps"] == 4


def test_kto_learns_the_owners_labels(kto_adapter, parent):
    _assert_same_lora_new_weights(kto_adapter, parent)
    card = _assert_card_from_parent(kto_adapter, parent, "kto")
    assert card.data["labels_good"] == 6 and card.data["labels_bad"] == 6
    train = card.metrics["train"]["labels"]
    assert train["before"]["reward_accuracy"] == 0.0
    assert train["after"]["reward_accuracy"] > 0.5 and train["after"]["reward_margin"] > 0
    assert "pairs" not in card.metrics["train"], "--no-use-pairs leaves the choices out"
    assert card.training_args["use_pairs"] is False


def test_the_server_serves_the_new_adapters_by_name(twin_server, dpo_adapter, kto_adapter):
    names = {}
    for folder in (dpo_adapter, kto_adapter):
        name = f"{folder.name}-{uuid.uuid4().hex[:6]}"
        shutil.copytree(folder, twin_server.adapters_dir / name)
        names[name] = twin_server.adapters_dir / name
    admin = {"Authorization": f"Bearer {twin_server.admin_key}"}
    user = {"Authorization": f"Bearer {twin_server.api_key}"}
    try:
        with httpx.Client(base_url=twin_server.root_url, timeout=120) as http:
            for name in names:
                loaded = http.post("/v1/load_lora_adapter", json={"lora_name": name}, headers=admin)
                assert loaded.status_code == 200, loaded.text
            listed = {m["id"]: m for m in http.get("/v1/models", headers=user).json()["data"]}
            for name in [*names, "alice"]:
                assert listed[name]["parent"] == twin_server.base_name
                body = {"model": name, "messages": [{"role": "user", "content": "free tonight?"}],
                        "max_tokens": 8, "temperature": 0}  # fmt: skip
                reply = http.post("/v1/chat/completions", json=body, headers=user)
                assert reply.status_code == 200, reply.text
                assert reply.json()["model"] == name and reply.json()["choices"][0]["message"]["content"]
    finally:
        with httpx.Client(base_url=twin_server.root_url, timeout=60) as http:
            for name, folder in names.items():
                http.post("/v1/unload_lora_adapter", json={"lora_name": name}, headers=admin)
                shutil.rmtree(folder, ignore_errors=True)
