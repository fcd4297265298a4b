"""The rhythm replayed: draws that follow what the export measured, and a bridge that waits, records, leaves unread."""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import httpx
import pytest

from bench.rhythm import ks_distance
from tests.bridge.conftest import friend_message
from tests.bridge.rhythm_cards import clone_with_rhythm, flat_rhythm
from tests.conftest import CHAT_KEY
from wechat_twin.bridge.rhythm import Pacing, Rhythm, Timing
from wechat_twin.training.dataset.pipeline import PipelineOptions, rhythm_splits
from wechat_twin.training.dataset.rhythm import measure

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "memotrace_sample" / "messages.csv"


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """The sample export's rhythm as `twin-train data` measures it, and the latencies it was measured on."""
    train, _, names = rhythm_splits([SAMPLE], PipelineOptions(out=tmp_path_factory.mktemp("data"), memory=False))
    return measure(train, names), train.replies.filter(train.replies["latency"].is_not_null())


def _critical(n: int, m: int) -> float:
    """The two-sample KS distance a sample of the same distribution stays under 99% of the time."""
    return 1.628 * math.sqrt((n + m) / (n * m))


@pytest.mark.parametrize(
    ("names", "hour", "rows"),
    [
        (("someone new",), 14, lambda r: r.filter((r["hour"] >= 12) & (r["hour"] < 16))),  # the 12-16 band
        (("someone new",), 3, lambda r: r),  # no replies at night: the whole export
        (("小雨",), 14, lambda r: r.filter((r["chat_id"] == "12") & (r["hour"] >= 12) & (r["hour"] < 16))),
    ],
    ids=["hour-band", "fallback-to-the-whole", "contact-of-their-own"],
)
def test_500_seeded_draws_pass_a_ks_test_against_the_learned_latencies(learned, names, hour, rows):
    rhythm, replies = learned
    real = rows(replies)["latency"].to_list()
    timing = Timing(Rhythm.parse(rhythm), Pacing(max_reply_delay_s=3600), random.Random(500))
    drawn = [timing.latency(names, hour) for _ in range(500)]
    assert ks_distance(drawn, real) < _critical(len(drawn), len(real)), f"{len(real)} real latencies"
    again = Timing(Rhythm.parse(rhythm), Pacing(max_reply_delay_s=3600), random.Random(500))
    assert [again.latency(names, hour) for _ in range(500)] == drawn, "the same seed draws the same waits"


def test_every_wait_is_scaled_and_capped(learned):
    rhythm = Rhythm.parse(learned[0])
    full = Timing(rhythm, Pacing(max_reply_delay_s=3600), random.Random(1))
    tenth = Timing(rhythm, Pacing(delay_scale=0.1, max_reply_delay_s=3600), random.Random(1))
    capped = Timing(rhythm, Pacing(max_reply_delay_s=60), random.Random(1))
    for _ in range(50):
        latency = full.latency(["x"], 10)
        assert tenth.latency(["x"], 10) == pytest.approx(latency / 10)
        assert capped.latency(["x"], 10) == min(latency, 60)
    fixed = Timing(None, Pacing(delay_scale=0.5), random.Random(1))
    assert fixed.latency(["x"], 10) is None and fixed.gap("hello", first=True) == pytest.approx(0.5 * 5 * 0.2)


def test_the_bridge_waits_the_drawn_latency_and_records_drawn_and_actual(make_bridge, twin_server):
    with clone_with_rhythm(twin_server, flat_rhythm(latency_s=20.0)) as name:
        h = make_bridge(model=name, delay_scale=0.1, request_timeout_s=300)  # every draw: 20 s x 0.1 = 2 s
        h.receive(friend_message("hey, dinner tonight?"))
        assert h.bridge.process_pending() == 0 and h.channel.sent == [], "too early: the owner takes 2 s"
        deadline = time.monotonic() + 300  # lower bounds only: a busy CPU may take long to answer
        while not h.bridge.process_pending():
            assert time.monotonic() < deadline, "never answered"
            time.sleep(0.05)
        assert h.channel.to("@friend01")
        [wait] = h.bridge.rhythm.waits.rows("@friend01")
        assert wait["outcome"] == "reply" and wait["drawn_latency_s"] == pytest.approx(2.0)
        received = h.bridge.store.inbox_rows()[-1]["received_at"]
        assert wait["actual_latency_s"] >= 2.0 and wait["at"] - received >= 2.0

        card = httpx.get(f"{twin_server.base_url}/models/{name}", headers={"Authorization": f"Bearer {CHAT_KEY}"})
        assert card.status_code == 200 and card.json()["rhythm"] is None, "a friend's key never sees the rhythm"


def test_read_no_reply_is_opt_in_never_twice_in_a_row_and_recorded(make_bridge, twin_server):
    with clone_with_rhythm(twin_server, flat_rhythm(latency_s=0.0, no_reply_rate=1.0)) as name:
        h = make_bridge(model=name, no_reply=True)
        for text in ("you there?", "hello??", "ok whatever"):
            h.receive(friend_message(text))
            h.bridge.process_pending()
        statuses = [row["status"] for row in h.bridge.store.inbox_rows()]
        assert statuses == ["unread", "answered", "unread"], "left unread at the owner's rate, never twice in a row"
        outcomes = [row["outcome"] for row in h.bridge.rhythm.waits.rows("@friend01")]
        assert outcomes == ["unread", "reply", "unread"]
        context = json.loads(h.bridge.feedback.last_reply("@friend01")["context"])
        assert context[-1] == {"role": "user", "content": "hello??"}
        assert len(h.channel.to("@friend01")) >= 1

        (h.config.data_dir / "other").mkdir()
        quiet = make_bridge(model=name, data_dir=h.config.data_dir / "other")
        quiet.receive(friend_message("you there?", user="@friend02"))
        quiet.bridge.process_pending()
        assert [row["status"] for row in quiet.bridge.store.inbox_rows()] == ["answered"], "off unless asked"
