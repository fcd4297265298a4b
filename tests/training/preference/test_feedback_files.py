"""Reading the bridge's exported feedback: shapes, errors that name the line, filtering and the held-out split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wechat_twin.training.preference.feedback import FeedbackError, load_feedback
from wechat_twin.training.preference.split import split_heldout


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _pair(question: str, chosen: str = "哈哈好啊", rejected: str = "As an AI I cannot", adapter: str = "alice") -> dict:
    return {
        "prompt": [{"role": "user", "content": question}],
        "chosen": chosen,
        "rejected": rejected,
        "adapter": adapter,
        "base_model": "SmolLM2-135M-Instruct",
    }


def _label(question: str, completion: str, label: bool, adapter: str = "alice") -> dict:
    return {
        "prompt": [{"role": "user", "content": question}],
        "completion": completion,
        "label": label,
        "adapter": adapter,
        "base_model": "SmolLM2-135M-Instruct",
    }


def test_export_folder_gives_pairs_and_labels_with_their_origin(tmp_path):
    _write_jsonl(tmp_path / "preference.jsonl", [_pair("吃了吗"), _pair("在干嘛", adapter="bob")])
    labels = [_label("周末去哪", "去爬山[旺柴]", True), _label("几点", "不知道", False)]
    _write_jsonl(tmp_path / "unpaired.jsonl", labels)
    feedback = load_feedback([tmp_path])
    assert [p.prompt[0]["content"] for p in feedback.pairs] == ["吃了吗", "在干嘛"]
    assert [(r.completion, r.label) for r in feedback.labels] == [("去爬山[旺柴]", True), ("不知道", False)]
    assert feedback.pairs[1].origin == f"{tmp_path / 'preference.jsonl'}:2"
    assert feedback.adapter_counts() == {"alice": 3, "bob": 1}
    alice = feedback.for_adapters({"alice"})
    assert len(alice.pairs) == 1 and len(alice.labels) == 2
    handwritten = {key: value for key, value in _pair("你好").items() if key not in ("adapter", "base_model")}
    _write_jsonl(tmp_path / "preference.jsonl", [handwritten])
    assert len(load_feedback([tmp_path]).for_adapters({"alice"}).pairs) == 1, "no adapter named: the user chose it"


def test_a_bad_record_is_reported_by_file_line_and_field(tmp_path):
    records = [_label("a", "b", True), {**_label("c", "d", True), "label": "yes"}]
    path = _write_jsonl(tmp_path / "unpaired.jsonl", records)
    with pytest.raises(FeedbackError, match=r"unpaired\.jsonl:2: field 'label' must be true or false"):
        load_feedback([path])
    path.write_text('{"prompt": [{"role": "friend", "content": "hi"}], "chosen": "a", "rejected": "b"}\n')
    with pytest.raises(FeedbackError, match=r"unpaired\.jsonl:1: prompt\[0\]\.role is 'friend'"):
        load_feedback([path])
    path.write_text("not json\n")
    with pytest.raises(FeedbackError, match=r"unpaired\.jsonl:1: not valid JSON"):
        load_feedback([path])


def test_pairs_that_teach_nothing_are_skipped_and_counted(tmp_path):
    path = _write_jsonl(tmp_path / "preference.jsonl", [_pair("a", "same", "same "), _pair("b", "", "x"), _pair("c")])
    feedback = load_feedback([path])
    assert len(feedback.pairs) == 1
    assert feedback.skipped == {"pair with identical replies": 1, "pair with an empty reply": 1}


def test_a_missing_source_or_an_empty_folder_is_named(tmp_path):
    with pytest.raises(FeedbackError, match="no such file"):
        load_feedback([tmp_path / "nope.jsonl"])
    with pytest.raises(FeedbackError, match=r"neither preference\.jsonl nor unpaired\.jsonl"):
        load_feedback([tmp_path])


def test_heldout_split_is_repeatable_and_keeps_one_context_on_one_side(tmp_path):
    records = [_pair(f"question {i % 6}", chosen=f"yes {i}") for i in range(12)]
    pairs = load_feedback([_write_jsonl(tmp_path / "p.jsonl", records)]).pairs
    train, heldout = split_heldout(pairs, 0.25, seed=3)
    assert (train, heldout) == split_heldout(pairs, 0.25, seed=3)
    assert len(heldout) == 2 and len(train) == 10
    held_prompts = {p.prompt[0]["content"] for p in heldout}
    assert not held_prompts & {p.prompt[0]["content"] for p in train}
    assert split_heldout(pairs, 0.0, seed=3) == (pairs, [])
