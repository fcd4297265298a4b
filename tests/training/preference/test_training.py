"""Feedback in, better adapter out: a few real DPO and KTO steps on the embedded model, then served by name.

The feedback is tiny and consistent (the owner always prefers the short, cheerful reply), so a
handful of steps at a high learning rate must make the new adapter prefer it on every prompt,
held-out ones included. That is measured here with peft and the chat template directly, not
with the metrics code that wrote `twin.json`, and the card's numbers must agree with it.
"""

from __future__ import annotations

import json
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from tests.support.memory import write_memory
from tests.support.tiers import slow_fixture
from wechat_twin.memory.store import MEMORY_FILE
from wechat_twin.server.adapters.adapter_memory import memory_path
from wechat_twin.server.adapters.card import read_card, write_card
from wechat_twin.server.adapters.heldout import HELDOUT_FILE, read_moments
from wechat_twin.training.cli import app

QUESTIONS = [
    "free tonight?",
    "what are you eating",
    "saw the game?",
    "how was work",
    "coffee later?",
    "where are you",
    "you coming?",
    "what's up",
    "weekend plans?",
    "how is your mom",
    "call me later?",
    "sleep well?",
]
GOOD = "haha yes!! 😂"
BAD = "As an AI language model, I cannot answer that."
FAST = [
    "--max-steps",
    "4",
    "--batch-size",
    "2",
    "--max-length",
    "64",
    "--lr",
    "1e-3",
    "--heldout",
    "0.25",
    "--min-feedback",
    "4",
]


LABELS = [bool(i % 2) for i in range(len(QUESTIONS))]  # the labelled reply of question i is GOOD when i is odd
BETA = 0.1  # the --beta default, which FAST leaves alone
PARENT_MEMORY = "recall.sqlite"  # not the default name: the card says where it is


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
        exchange = store.record_exchange(
            "@friend", "Mia", "alice", "SmolLM2-135M-Instruct", context, candidates=candidates
        )
        store.record_choice(exchange, candidates.index(GOOD), "owner")
        labeled = store.record_exchange(
            "@friend", "Mia", "alice", "SmolLM2-135M-Instruct", context, reply=GOOD if i % 2 else BAD
        )
        store.record_label(labeled, bool(i % 2), "owner")
    store.close()
    export_feedback(database, folder)
    return folder


def _train(method: str, parent: Path, feedback: Path, *extra: str) -> Path:
    """`twin-train METHOD ...` in this process: the console script's own app, without importing torch, transformers
    and TRL again in a subprocess for each of the two trainings."""
    out = parent.parent / f"alice-{method}"
    command = [method, str(parent), "-f", str(feedback), "--out", str(out), *FAST, *extra]
    done = CliRunner().invoke(app, command, env={"COLUMNS": "200"})
    assert done.exit_code == 0, f"{done.output[-3000:]}\n{done.exception!r}"
    return out


@pytest.fixture(scope="module")
def parent(adapters_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's `alice` adapter (a LoRA on the embedded base with a twin.json) to continue,
    with what a clone serves and is judged with: a memory its card names, and held-out moments."""
    folder = tmp_path_factory.mktemp("pref") / "adapters" / "alice"
    shutil.copytree(adapters_dir / "alice", folder)
    write_memory(folder).rename(folder / PARENT_MEMORY)
    card = read_card(folder)
    card.memory = PARENT_MEMORY
    write_card(folder, card)
    moment = {
        "chat": "妈妈",
        "messages": [{"role": "user", "content": "吃了吗"}, {"role": "assistant", "content": "吃啦"}],
    }
    (folder / HELDOUT_FILE).write_text(json.dumps(moment, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def feedback(parent: Path) -> Path:
    return _write_feedback(parent.parent.parent / "export")


@pytest.fixture(scope="module")
@slow_fixture
def dpo_adapter(parent: Path, feedback: Path) -> Path:
    return _train("dpo", parent, feedback)


@pytest.fixture(scope="module")
@slow_fixture
def kto_adapter(parent: Path, feedback: Path) -> Path:
    """Read straight from the bridge's database, the other way in."""
    return _train("kto", parent, feedback / "feedback.db", "--no-use-pairs")


@dataclass(frozen=True)
class ReplyLogp:
    """log p(reply + EOS | the served prompt) summed over the reply's tokens, and their count."""

    total: float
    tokens: int

    @property
    def per_token(self) -> float:
        return self.total / self.tokens


@pytest.fixture(scope="module")
def logps(embedded_model: Path, parent: Path, dpo_adapter: Path, kto_adapter: Path) -> dict[str, dict[str, list]]:
    """For parent, DPO and KTO child: [GOOD, BAD] log-probabilities on every question, from peft itself.

    The prompt is the base chat template applied to the parent's persona and the question (what the
    server renders); the reply gets the EOS token TRL appends, so the numbers are on the card's scale.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_model)
    persona = json.loads((parent / "twin.json").read_text())["system_prompt"]
    base = AutoModelForCausalLM.from_pretrained(embedded_model, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, parent, adapter_name="parent")
    model.load_adapter(dpo_adapter, adapter_name="dpo")
    model.load_adapter(kto_adapter, adapter_name="kto")
    model.eval()

    def logp(question: str, reply: str) -> ReplyLogp:
        chat = [{"role": "system", "content": persona}, {"role": "user", "content": question}]
        prompt = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=True)
        prompt_ids = list(prompt["input_ids"])
        reply_ids = tokenizer(reply + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + reply_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1]
        picked = torch.log_softmax(logits.float(), dim=-1)[torch.arange(len(reply_ids)), torch.tensor(reply_ids)]
        return ReplyLogp(float(picked.sum()), len(reply_ids))

    scores = {}
    for name in ("parent", "dpo", "kto"):
        model.set_adapter(name)
        scores[name] = {"good": [logp(q, GOOD) for q in QUESTIONS], "bad": [logp(q, BAD) for q in QUESTIONS]}
    return scores


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


def test_each_child_serves_with_its_parents_memory_and_is_judged_on_its_held_out_moments(
    parent, dpo_adapter, kto_adapter
):
    memory = (parent / PARENT_MEMORY).read_bytes()
    for child in (dpo_adapter, kto_adapter):
        assert memory_path(child, read_card(child)) == child / MEMORY_FILE, child.name
        assert (child / MEMORY_FILE).read_bytes() == memory, child.name
        assert read_moments(child) == read_moments(parent) != [], child.name


def _margins(scores: dict[str, list[ReplyLogp]]) -> list[float]:
    return [good.total - bad.total for good, bad in zip(scores["good"], scores["bad"], strict=True)]


def test_dpo_learns_the_owners_choices(dpo_adapter, parent, logps):
    _assert_same_lora_new_weights(dpo_adapter, parent)
    card = _assert_card_from_parent(dpo_adapter, parent, "dpo")
    assert card.data["pairs"] == 12 and card.data["train_pairs"] == 9 and card.data["heldout_pairs"] == 3
    assert card.metrics["trainer"]["steps"] == 4
    before, after = _margins(logps["parent"]), _margins(logps["dpo"])
    moved = [round(a - b, 2) for a, b in zip(after, before, strict=True)]
    assert all(m > 0 for m in moved), f"log p(GOOD) - log p(BAD) did not rise on every question: {moved}"
    parent_prefers = sum(
        g.per_token > b.per_token for g, b in zip(logps["parent"]["good"], logps["parent"]["bad"], strict=True)
    )
    assert parent_prefers < len(QUESTIONS), "the parent already preferred GOOD everywhere: nothing to learn"
    assert all(g.per_token > b.per_token for g, b in zip(logps["dpo"]["good"], logps["dpo"]["bad"], strict=True))

    train, heldout = card.metrics["train"]["pairs"], card.metrics["heldout"]["pairs"]
    assert (train["count"], heldout["count"]) == (9, 3)
    # The card splits the questions 9/3; its per-set means must add up to what peft says over all 12.
    rewards = 9 * train["after"]["reward_margin"] + 3 * heldout["after"]["reward_margin"]
    assert rewards == pytest.approx(BETA * sum(after) - BETA * sum(before), rel=1e-3, abs=1e-3)
    liked = 9 * train["before"]["likelihood_accuracy"] + 3 * heldout["before"]["likelihood_accuracy"]
    assert round(liked) == parent_prefers
    for summary in (train, heldout):
        assert summary["after"]["reward_accuracy"] == 1.0 and summary["after"]["likelihood_accuracy"] == 1.0


def test_kto_learns_the_owners_labels(kto_adapter, parent, logps):
    _assert_same_lora_new_weights(kto_adapter, parent)
    card = _assert_card_from_parent(kto_adapter, parent, "kto")
    assert card.data["labels_good"] == 6 and card.data["labels_bad"] == 6
    assert "pairs" not in card.metrics["train"], "--no-use-pairs leaves the choices out"
    assert card.training_args["use_pairs"] is False
    before, after = _margins(logps["parent"]), _margins(logps["kto"])
    moved = [round(a - b, 2) for a, b in zip(after, before, strict=True)]
    assert all(m > 0 for m in moved), f"log p(GOOD) - log p(BAD) did not rise on every question: {moved}"

    # The reward of each labelled reply: beta * (log p_kto - log p_parent) of the reply that question got.
    side = {True: "good", False: "bad"}
    rewards = [
        BETA * (logps["kto"][side[label]][i].total - logps["parent"][side[label]][i].total)
        for i, label in enumerate(LABELS)
    ]
    signs = [(r > 0) == label for r, label in zip(rewards, LABELS, strict=True)]
    assert all(signs), f"a labelled reply's reward has the wrong sign: {[round(r, 3) for r in rewards]}"
    train, heldout = card.metrics["train"]["labels"], card.metrics["heldout"]["labels"]
    assert (train["good"], train["bad"], heldout["good"], heldout["bad"]) == (5, 5, 1, 1)
    for summary in (train, heldout):
        assert summary["after"]["reward_accuracy"] == 1.0 and summary["after"]["reward_margin"] > 0

    # Equal good and bad counts per set: 5 * a train margin + 1 * its held-out margin = sum(good) - sum(bad).
    def good_minus_bad(values: list[float]) -> float:
        return sum(v if label else -v for v, label in zip(values, LABELS, strict=True))

    def card_sum(key: str, when: str) -> float:
        return 5 * train[when][key] + heldout[when][key]

    assert card_sum("reward_margin", "after") == pytest.approx(good_minus_bad(rewards), rel=1e-3, abs=1e-3)
    for when, name in (("before", "parent"), ("after", "kto")):
        per_token = [logps[name][side[label]][i].per_token for i, label in enumerate(LABELS)]
        assert card_sum("likelihood_margin", when) == pytest.approx(good_minus_bad(per_token), rel=1e-3, abs=1e-3)


def _reply(http: httpx.Client, headers: dict[str, str], model: str) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": QUESTIONS[0]}], "max_tokens": 8, "temperature": 0}
    reply = http.post("/v1/chat/completions", json=body, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == model
    return reply.json()["choices"][0]["message"]["content"]


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
            parent_reply = _reply(http, user, "alice")
            for name in names:
                assert listed[name]["parent"] == twin_server.base_name
                child_reply = _reply(http, user, name)
                assert child_reply != parent_reply, f"{name} answers as its parent does: {child_reply!r}"
    finally:
        with httpx.Client(base_url=twin_server.root_url, timeout=60) as http:
            for name, folder in names.items():
                http.post("/v1/unload_lora_adapter", json={"lora_name": name}, headers=admin)
                shutil.rmtree(folder, ignore_errors=True)
