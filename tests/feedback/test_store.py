"""The feedback store's behaviour, the same on both of its databases: every test runs on a SQLite file and on
a real PostgreSQL server (tests/support/postgres.py), as `--feedback-db FILE` and `--feedback-db postgresql://`.

The bridge's tables live in the same database over the store's connection, so their statements are run here
too: a statement that only SQLite understands would fail the PostgreSQL half.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from wechat_twin.bridge.store import BridgeStore, InboxStatus
from wechat_twin.bridge.waits import WaitLog
from wechat_twin.feedback.export import export_feedback
from wechat_twin.feedback.store import ChoiceTaken, FeedbackDatabaseError, FeedbackStore, describe

CONTEXT = [{"role": "system", "content": "你是小林"}, {"role": "user", "content": "晚饭吃啥？"}]


@pytest.fixture
def store(feedback_location):
    opened = FeedbackStore(feedback_location)
    yield opened
    opened.close()


def test_an_exchange_reads_back_as_it_was_written(store):
    before = time.time()
    exchange_id = store.record_exchange("@friend", "Mia", "alice", "SmolLM2-135M-Instruct", CONTEXT, reply="火锅！")
    row = store.exchange(exchange_id)
    assert {k: row[k] for k in ("chat_id", "chat_name", "adapter", "base_model", "reply", "candidates")} == {
        "chat_id": "@friend",
        "chat_name": "Mia",
        "adapter": "alice",
        "base_model": "SmolLM2-135M-Instruct",
        "reply": "火锅！",
        "candidates": None,
    }
    # A second's resolution at least: PostgreSQL's 4-byte `real` would put it minutes off.
    assert before <= row["created_at"] <= time.time() + 1e-3
    assert abs(row["created_at"] - before) < 1.0
    assert store.find_exchange(exchange_id)["chosen"] is None
    assert store.find_exchange(exchange_id + 1000) is None


def test_ids_increase_and_the_last_reply_is_per_chat(store):
    first = store.record_exchange("@a", "A", "alice", None, CONTEXT, reply="one")
    second = store.record_exchange("@b", "B", "alice", None, CONTEXT, reply="two")
    store.record_exchange("@b", "B", "alice", None, CONTEXT, candidates=["x", "y"])
    assert 0 < first < second
    assert store.last_reply()["id"] == second
    assert store.last_reply("@a")["reply"] == "one"
    assert store.last_reply("@nobody") is None


def test_a_choice_makes_the_reply_and_closes_the_open_pair(store):
    older = store.record_exchange("@a", "A", "alice", None, CONTEXT, candidates=["x", "y"])
    newer = store.record_exchange("@a", "A", "alice", None, CONTEXT, candidates=["左", "右"])
    assert store.open_choice()["id"] == newer
    store.record_choice(newer, 1, "owner")
    assert store.exchange(newer)["reply"] == "右"
    assert store.find_exchange(newer)["chosen"] == 1
    assert store.open_choice()["id"] == older


def test_a_second_choice_is_refused_and_changes_nothing(store):
    pair = store.record_exchange("@a", "A", "alice", None, CONTEXT, candidates=["x", "y"])
    store.record_choice(pair, 0, "owner")
    with pytest.raises(ChoiceTaken):
        store.record_choice(pair, 1, "web:friend")
    assert store.exchange(pair)["reply"] == "x"
    assert [p["chosen"] for p in store.preference_pairs()] == ["x"]


def test_pairs_and_labels_are_what_trl_reads(store):
    pair = store.record_exchange("@a", "A", "alice", "base", CONTEXT, candidates=["yes", "no"])
    store.record_choice(pair, 1, "owner")
    good = store.record_exchange("@a", "A", "bob", "base", CONTEXT, reply="好")
    store.record_label(good, True, "owner")
    bad = store.record_exchange("@a", "A", "bob", "base", CONTEXT, reply="坏")
    store.record_label(bad, False, "@a")
    assert store.preference_pairs() == [
        {"prompt": CONTEXT, "chosen": "no", "rejected": "yes", "adapter": "alice", "base_model": "base"}
    ]
    assert store.unpaired_labels() == [
        {"prompt": CONTEXT, "completion": "好", "label": True, "adapter": "bob", "base_model": "base"},
        {"prompt": CONTEXT, "completion": "坏", "label": False, "adapter": "bob", "base_model": "base"},
    ]


def test_a_failed_transaction_leaves_nothing_and_an_inner_one_joins_it(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.record_exchange("@a", "A", "alice", None, CONTEXT, reply="lost")
        with store.transaction():
            store.record_exchange("@a", "A", "alice", None, CONTEXT, reply="lost too")
        raise RuntimeError("crash before commit")
    assert store.last_reply() is None
    kept = store.record_exchange("@a", "A", "alice", None, CONTEXT, reply="kept")
    assert store.last_reply()["id"] == kept


def test_a_label_on_a_missing_exchange_is_refused(store):
    with pytest.raises(Exception) as caught:
        store.record_label(12345, True, "owner")
    assert "foreign key" in str(caught.value).lower()
    assert store.unpaired_labels() == []


def test_what_was_written_is_there_after_reopening(feedback_location):
    first = FeedbackStore(feedback_location)
    exchange_id = first.record_exchange("@a", "A", "alice", None, CONTEXT, reply="still here")
    first.close()
    second = FeedbackStore(feedback_location)
    try:
        assert second.exchange(exchange_id)["reply"] == "still here"
    finally:
        second.close()


def test_the_export_reads_either_database(feedback_location, tmp_path: Path):
    store = FeedbackStore(feedback_location)
    pair = store.record_exchange("@a", "A", "alice", None, CONTEXT, candidates=["yes", "no"])
    store.record_choice(pair, 0, "owner")
    store.record_label(store.record_exchange("@a", "A", "alice", None, CONTEXT, reply="ok"), True, "owner")
    store.close()
    assert export_feedback(feedback_location, tmp_path / "out") == (1, 1)


def test_two_stores_writing_at_once_lose_nothing(feedback_location):
    """Two connections, as two server replicas (or a replica and the bridge) hold: every write lands."""
    stores = [FeedbackStore(feedback_location), FeedbackStore(feedback_location)]
    per_writer, written, errors = 40, [[], []], []

    def write(index: int) -> None:
        try:
            for n in range(per_writer):
                exchange_id = stores[index].record_exchange(
                    f"web:{index}", "w", "alice", None, CONTEXT, reply=f"{index}-{n}"
                )
                stores[index].record_label(exchange_id, n % 2 == 0, f"replica-{index}")
                written[index].append(exchange_id)
        except Exception as exc:  # reported below: a thread's exception would vanish
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not errors, errors
        ids = written[0] + written[1]
        assert len(set(ids)) == 2 * per_writer, "ids are unique across the writers"
        labels = stores[0].unpaired_labels()
        assert sorted(label["completion"] for label in labels) == sorted(
            f"{i}-{n}" for i in range(2) for n in range(per_writer)
        )
    finally:
        for opened in stores:
            opened.close()


def test_two_stores_choosing_one_pair_at_once_keep_one_choice(feedback_location):
    stores = [FeedbackStore(feedback_location), FeedbackStore(feedback_location)]
    pairs = [stores[0].record_exchange("@a", "A", "alice", None, CONTEXT, candidates=["x", "y"]) for _ in range(10)]
    outcomes: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def choose(index: int) -> None:
        start.wait()
        for pair in pairs:
            try:
                stores[index].record_choice(pair, index, f"replica-{index}")
                outcomes[index].append("chosen")
            except ChoiceTaken:
                outcomes[index].append("taken")

    threads = [threading.Thread(target=choose, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert outcomes[0].count("chosen") + outcomes[1].count("chosen") == len(pairs)
        chosen = stores[0].preference_pairs()
        assert len(chosen) == len(pairs), "one choice per pair, never two"
        for pair in pairs:
            exchange = stores[1].find_exchange(pair)
            assert exchange["reply"] == ["x", "y"][exchange["chosen"]], "the reply is the choice that stood"
    finally:
        for opened in stores:
            opened.close()


def test_the_bridges_tables_work_over_the_stores_connection(store):
    bridge = BridgeStore(store)
    assert bridge.enqueue("m1", "@a", "A", "hi", 1.0)
    assert not bridge.enqueue("m1", "@a", "A", "hi again", 2.0), "a re-delivery is a no-op"
    bridge.receive(
        [("m1", "@a", "A", "dup", 3.0, "text"), ("m2", "@b", "B", "yo", 4.0, "voice")],
        [("m3", "@a", "image", 5.0)],
        {"weixin:cursor": "c1", "weixin:token:@a": "t"},
    )
    bridge.receive([], [("m3", "@a", "image", 6.0)], {"weixin:cursor": "c2"})
    assert bridge.seen("m3") and bridge.seen("m2") and not bridge.seen("m9")
    assert bridge.skipped_counts() == {"image": 1}
    assert bridge.channel_state("weixin:") == {"weixin:cursor": "c2", "weixin:token:@a": "t"}
    assert bridge.pending_chats() == ["@a", "@b"]
    first = [row["id"] for row in bridge.pending("@a")]
    assert [row["text"] for row in bridge.pending("@a")] == ["hi"]
    bridge.finish(first, InboxStatus.ANSWERED, [("@a", "user", "hi", 10.5), ("@a", "assistant", "hey", 10.75)])
    assert bridge.history("@a", since=0, limit=10) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hey"},
    ]
    assert bridge.last_turn_at("@a") == 10.75
    review = [row["id"] for row in bridge.pending("@b")]
    exchange_id = bridge.hold_for_review(review, "@b", "B", "alice", None, CONTEXT, ["x", "y"])
    assert bridge.in_review("@b") == review
    assert store.open_choice()["id"] == exchange_id
    bridge.forget("@a")
    assert bridge.history("@a", since=0, limit=10) == []


def test_an_unreachable_or_unwritable_database_is_one_error_naming_it_without_its_password(tmp_path: Path):
    url = "postgresql://twin:s3cret@/twin?host=" + str(tmp_path / "no-server-here")
    with pytest.raises(FeedbackDatabaseError) as caught:
        FeedbackStore(url)
    assert "s3cret" not in str(caught.value) and "twin:***@" in str(caught.value)
    assert "\n" not in str(caught.value), "one error line"
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    with pytest.raises(FeedbackDatabaseError, match="blocked"):
        FeedbackStore(blocked / "feedback.db")
    assert describe(tmp_path / "feedback.db") == str(tmp_path / "feedback.db")
    assert describe("postgresql:///twin?host=/run&password=s3cret&sslmode=require") == (
        "postgresql:///twin?host=/run&password=***&sslmode=require"
    )


def test_a_dropped_postgresql_connection_loses_no_write_and_repeats_none(postgres_url: str):
    """The database ends the store's connection (a restart, a failover, an idle timeout): the next read and the
    next write go through on a new connection, each once."""
    import psycopg

    store = FeedbackStore(postgres_url)
    try:
        store.record_exchange("@a", "A", "alice", None, CONTEXT, reply="before")
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        assert ended, "the store's connection was ended"
        assert store.last_reply()["reply"] == "before"
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid()"
            )
        after = store.record_exchange("@a", "A", "alice", None, CONTEXT, reply="after")
        store.record_label(after, True, "owner")
        assert [label["completion"] for label in store.unpaired_labels()] == ["after"]
        assert store.last_reply()["id"] == after
    finally:
        store.close()


def test_both_databases_have_the_same_tables_and_columns(tmp_path: Path, postgres_url: str):
    import psycopg

    sqlite_store, postgres_store = FeedbackStore(tmp_path / "feedback.db"), FeedbackStore(postgres_url)
    try:
        for opened in (sqlite_store, postgres_store):
            BridgeStore(opened)
            WaitLog(opened)
        db = sqlite_store.connection
        names = [r["name"] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        in_sqlite = {
            name: [c["name"] for c in db.execute(f"PRAGMA table_info({name})")]
            for name in names
            if name != "sqlite_sequence"
        }
    finally:
        sqlite_store.close()
        postgres_store.close()
    in_postgres: dict[str, list[str]] = {}
    with psycopg.connect(postgres_url) as db:
        for table, column in db.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE "
            "table_schema='public' ORDER BY table_name, ordinal_position"
        ):
            in_postgres.setdefault(table, []).append(column)
        kinds = dict(
            db.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name='exchanges'"
            ).fetchall()
        )
    assert in_postgres == in_sqlite
    assert {"exchanges", "labels", "inbox", "turns", "skipped", "channel_state"} <= in_postgres.keys()
    assert kinds["created_at"] == "double precision" and kinds["id"] == "bigint"
