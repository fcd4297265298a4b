"""The memory store: CJK bigrams and words in FTS5, per-contact search, facts, and the prompt block."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from wechat_twin.memory.block import EXCHANGES_HEADER, FACTS_HEADER, memory_block, with_memory
from wechat_twin.memory.facts import FactsFileError, read_facts
from wechat_twin.memory.store import Exchange, MemoryFileError, MemoryStore, append_memory, build_memory, session_key
from wechat_twin.memory.terms import match_expression, terms

MOM, JIE = "a1", "b2"


def exchange(contact: str, start: str, friend: str, owner: str) -> Exchange:
    return Exchange(contact, session_key(contact, start), start, friend, owner)


EXCHANGES = [
    exchange(MOM, "2024-01-01T10:00:00+08:00", "周末回家吃饭吗", "回的回的"),
    exchange(MOM, "2024-01-08T10:00:00+08:00", "我今天做了火锅底料", "哇 想吃"),
    exchange(MOM, "2024-01-09T10:00:00+08:00", "记得穿秋裤", "知道啦"),
    exchange(JIE, "2024-01-02T22:00:00+08:00", "晚上去吃火锅？", "走起"),
    exchange(JIE, "2024-01-03T22:00:00+08:00", "Dota tonight?", "ok gg"),
]


def store_of(tmp_path: Path, facts_text: str | None = None) -> MemoryStore:
    facts = None
    if facts_text is not None:
        (tmp_path / "facts.txt").write_text(facts_text, encoding="utf-8")
        facts = read_facts(tmp_path / "facts.txt")
    path = tmp_path / "memory.sqlite"
    path.write_bytes(build_memory(EXCHANGES, {MOM: MOM, "妈妈": MOM, JIE: JIE, "阿杰": JIE, "wxid_jie": JIE}, facts))
    return MemoryStore(path)


def test_chinese_text_becomes_overlapping_bigrams_and_other_scripts_words():
    assert terms("我想吃火锅! Hotpot OK?") == ["我想", "想吃", "吃火", "火锅", "hotpot", "ok"]
    assert terms("好 the 嗯") == ["好", "the", "嗯"]
    assert match_expression("NEAR(a b) AND *") == '"near" OR "a" OR "b" OR "and"'
    assert match_expression("？！…") is None


def test_a_two_character_chinese_query_finds_its_exchange_within_a_longer_sentence(tmp_path):
    store = store_of(tmp_path)
    assert [e.friend for e in store.similar(MOM, "火锅", 1)] == ["我今天做了火锅底料"]
    assert [e.friend for e in store.similar(JIE, "火锅", 1)] == ["晚上去吃火锅？"]
    assert [e.owner for e in store.similar(MOM, "秋裤", 1)] == ["知道啦"]
    assert [e.friend for e in store.similar(JIE, "dota", 1)] == ["Dota tonight?"]


def test_search_stays_within_the_contact_and_tops_up_with_the_latest(tmp_path):
    store = store_of(tmp_path)
    found = store.similar(MOM, "火锅", 3)
    assert {e.contact for e in found} == {MOM} and len(found) == 3
    assert found[0].friend == "我今天做了火锅底料" and found[1].friend == "记得穿秋裤"  # the latest after the match
    assert store.similar(MOM, "完全无关的话题", 2)[0].friend == "记得穿秋裤"


def test_a_session_left_out_is_never_returned(tmp_path):
    store = store_of(tmp_path)
    own = EXCHANGES[1].session
    for query in ("火锅", "吃饭", "秋裤", ""):
        assert all(e.session != own for e in store.similar(MOM, query, 5, exclude_session=own))
        assert all(e.session != own for e in store.random_of(MOM, 5, random.Random(0), exclude_session=own))


def test_the_controls_draw_from_the_same_contact_at_random_and_from_the_others_by_similarity(tmp_path):
    store = store_of(tmp_path)
    others = store.from_others(MOM, "火锅", 2)
    assert others[0].friend == "晚上去吃火锅？" and {e.contact for e in others} == {JIE}
    drawn = store.random_of(MOM, 2, random.Random(1))
    assert len(drawn) == 2 and {e.contact for e in drawn} == {MOM}


def test_names_resolve_to_contacts(tmp_path):
    store = store_of(tmp_path)
    assert store.contact_of("阿杰") == store.contact_of("wxid_jie") == JIE
    assert store.contact_of("nobody") is None


def test_facts_are_the_shared_ones_then_the_contacts_own_verbatim(tmp_path):
    text = "# mine\nmy salary is 30k\n[*]\n我在深圳上班\n\n[妈妈]\n我妈住在深圳\n[阿杰]\n阿杰 is my college roommate\n"
    text += '[Ben]\nBen 会日语\n[Tom "TC" Chen]\nTC likes tea\n[*]\nI like cats\n'
    store = store_of(tmp_path, text)
    assert store.facts(MOM) == ["我在深圳上班", "I like cats", "我妈住在深圳"]
    assert store.facts(JIE) == ["我在深圳上班", "I like cats", "阿杰 is my college roommate"]
    assert store.contact_of("Ben") == "Ben" and store.facts("Ben") == ["我在深圳上班", "I like cats", "Ben 会日语"]
    assert store.facts(None) == ["我在深圳上班", "I like cats"]
    assert store.contact_of("*") is None, "the shared section is no contact"
    assert store.similar("Ben", "火锅", 3) == [], "a contact known by facts alone has no exchanges"
    assert store.similar('Tom "TC" Chen', "tea", 3) == [] and store.facts('Tom "TC" Chen')[-1] == "TC likes tea"


def test_facts_not_marked_shared_reach_no_contact_and_are_not_stored(tmp_path):
    store = store_of(tmp_path, "my salary is 30k\n[妈妈]\n我妈住在深圳\n")
    assert store.facts(MOM) == ["我妈住在深圳"] and store.facts(JIE) == [] and store.facts(None) == []
    assert b"my salary" not in (tmp_path / "memory.sqlite").read_bytes()


def test_a_memory_file_from_before_the_mark_shares_none_of_its_global_facts(tmp_path):
    """Such files stored every global fact under contact "": the safe reading is "marked for nobody"."""
    store = store_of(tmp_path, "[妈妈]\n我妈住在深圳\n")
    store.close()
    with sqlite3.connect(tmp_path / "memory.sqlite") as conn:
        conn.execute("INSERT INTO facts VALUES ('', 0, 'my salary is 30k')")
    assert MemoryStore(tmp_path / "memory.sqlite").facts(MOM) == ["我妈住在深圳"]


def test_a_bad_facts_file_is_named_with_its_line(tmp_path):
    path = tmp_path / "facts.txt"
    path.write_text("ok\n[ ]\n", encoding="utf-8")
    with pytest.raises(FactsFileError, match=r"facts.txt:2: a section needs a contact name"):
        read_facts(path)


def test_a_file_that_is_not_a_memory_file_is_refused(tmp_path):
    with pytest.raises(MemoryFileError, match="no such memory file"):
        MemoryStore(tmp_path / "missing.sqlite")
    sqlite3.connect(tmp_path / "other.sqlite").execute("CREATE TABLE t (x)")
    with pytest.raises(MemoryFileError, match="not a memory file"):
        MemoryStore(tmp_path / "other.sqlite")


def test_the_block_lists_facts_then_exchanges_in_time_order_after_the_persona(tmp_path):
    block = memory_block([EXCHANGES[2], EXCHANGES[0]], ["我妈住在深圳"])
    assert block.splitlines() == [
        FACTS_HEADER,
        "- 我妈住在深圳",
        "",
        EXCHANGES_HEADER,
        "[2024-01-01] 朋友：周末回家吃饭吗",
        "你：回的回的",
        "[2024-01-09] 朋友：记得穿秋裤",
        "你：知道啦",
    ]
    multi = Exchange(MOM, "s", "2024-02-01", "在吗\n有事", "在\n咋了")
    assert "朋友：在吗 / 有事\n你：在 / 咋了" in memory_block([multi], [])
    chat = [{"role": "system", "content": "你是Jay。"}, {"role": "user", "content": "hi"}]
    assert with_memory(chat, block)[0]["content"] == "你是Jay。\n\n" + block
    assert with_memory(chat[1:], block) == [{"role": "system", "content": block}, chat[1]]
    assert with_memory(chat, memory_block([], [])) is chat


def test_appending_a_newer_memory_keeps_the_old_rows_and_makes_the_new_ones_searchable(tmp_path):
    """`twin-train update`: the parent's memory plus the new train split, each new row indexed under its own id."""
    old = tmp_path / "old.sqlite"
    old.write_bytes(build_memory(EXCHANGES[:3], {MOM: MOM}, None))
    new = tmp_path / "new.sqlite"
    new.write_bytes(build_memory(EXCHANGES[3:], {JIE: JIE, "阿杰": JIE}, None))
    assert append_memory(old, new) == 2
    store = MemoryStore(old)
    assert [e.friend for e in store.similar(MOM, "火锅", 1)] == ["我今天做了火锅底料"]
    assert [e.friend for e in store.similar(JIE, "火锅", 1)] == ["晚上去吃火锅？"]
    assert store.contact_of("阿杰") == JIE
    with sqlite3.connect(old) as conn:
        ids = conn.execute("SELECT id FROM exchanges ORDER BY id").fetchall()
        indexed = conn.execute("SELECT rowid, friend FROM exchange_terms ORDER BY rowid").fetchall()
    assert [i for (i,) in ids] == [1, 2, 3, 4, 5]
    assert [rowid for rowid, _ in indexed] == [1, 2, 3, 4, 5] and indexed[3][1] != indexed[0][1]
