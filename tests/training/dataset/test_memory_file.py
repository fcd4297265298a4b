"""`twin-train data` writes memory.sqlite: the train split's exchanges per contact, redacted, owner-only."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import stat
from pathlib import Path

from tests.training.formats.export_files import read_jsonl, run_data
from wechat_twin.memory.store import MemoryStore
from wechat_twin.memory.terms import indexed
from wechat_twin.training.dataset import memory_file
from wechat_twin.training.dataset.memory_file import indexed_column, word_ranges

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "examples" / "memotrace_sample" / "messages.csv"


def pairs(records: list[dict]) -> set[tuple[str, str]]:
    out = set()
    for record in records:
        turns = [m["content"] for m in record["messages"] if m["role"] != "system"]
        out |= set(zip(turns[::2], turns[1::2], strict=True))
    return out


def test_memory_holds_every_train_exchange_and_no_dev_one_owner_only(tmp_path):
    facts = tmp_path / "facts.txt"
    facts.write_text("my salary is 30k\n[*]\n我在深圳上班\n[小雨]\n小雨 is my badminton partner\n", encoding="utf-8")
    result = run_data(SAMPLE, "--out", tmp_path / "data", "--facts", facts)
    assert result.exit_code == 0, result.output
    path = tmp_path / "data" / "memory.sqlite"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    train, dev = read_jsonl(tmp_path / "data" / "train.jsonl"), read_jsonl(tmp_path / "data" / "dev.jsonl")
    stored = set(sqlite3.connect(path).execute("SELECT friend, owner FROM exchanges").fetchall())
    assert stored == pairs(train)
    assert not stored & (pairs(dev) - pairs(train)) and pairs(dev) - pairs(train)
    texts = " ".join(f + o for f, o in stored)
    assert "<phone>" in texts and "13800138000" not in texts, "redacted exactly like the dataset"

    store = MemoryStore(path)
    xiaoyu = store.contact_of("小雨")
    assert xiaoyu == store.contact_of("12") and xiaoyu in {r["chat"] for r in train}
    assert store.facts(xiaoyu) == ["我在深圳上班", "小雨 is my badminton partner"]
    assert "my salary" not in path.read_bytes().decode("utf-8", "replace"), "a fact shared with nobody is not kept"
    report = json.loads((tmp_path / "data" / "report.json").read_text(encoding="utf-8"))
    assert (report["memory"]["facts"], report["memory"]["facts_not_shared"]) == (2, 1)
    assert any("shared with nobody" in warning for warning in report["warnings"]), report["warnings"]
    assert {e.contact for e in store.similar(xiaoyu, "dinner", 5)} == {xiaoyu}


def test_no_memory_writes_none_and_facts_then_are_a_usage_mistake(tmp_path):
    result = run_data(SAMPLE, "--out", tmp_path / "data", "--no-memory")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "data" / "memory.sqlite").exists()
    facts = tmp_path / "facts.txt"
    facts.write_text("x\n", encoding="utf-8")
    refused = run_data(SAMPLE, "--out", tmp_path / "other", "--no-memory", "--facts", facts)
    assert refused.exit_code == 2 and "--facts needs the memory file" in refused.output


def test_terms_made_over_columns_are_the_terms_made_one_text_at_a_time(monkeypatch):
    """The import's column-wise terms equal `indexed`'s on every kind of character: CJK runs and lone CJK
    characters, words in other scripts (Python's `\\w`: `_`, `²`, marks, full-width letters), case that
    lowercases to more characters (İ), final sigma, emoji and punctuation, empty texts; across chunks."""
    monkeypatch.setattr(memory_file, "CHUNK_TEXTS", 1000)
    rng = random.Random(31)
    alphabet = "火锅我想吃ひらカナ한국 aZ_09²½İΣσΟΔΟΣéé\u0301ＡＢｃ１，。！？🙂👍\n\t-@.〇々"
    alphabet += chr(0x20000) + chr(0x1D7CE)
    texts = ["", " ", "我想吃火锅", "火", "a火b", "HELLO World", "ΟΔΟΣ", "İstanbul", "x²_y"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    texts += ["".join(map(chr, rng.sample(range(0x20, 0x30000), 40))) for _ in range(300)]
    texts = [t for t in texts if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]
    assert indexed_column(texts) == [indexed(t) for t in texts]


def test_no_word_character_lies_above_the_planes_the_import_reads():
    """The terms' word class is read off planes 0 to 3; in this Python's Unicode the rest adds nothing."""
    assert word_ranges() == word_ranges(0x110000)
