"""The rhythm through the fake iLink server and the real server: the wait before typing, the gaps between bubbles."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from tests.bridge.channels.weixin.conftest import FRIEND, wait_for
from tests.bridge.rhythm_cards import clone_with_rhythm, flat_rhythm

SCALE = 0.05  # every drawn wait x 0.05: 40 s -> 2 s, 1 s a character -> 0.05 s


def test_the_reply_waits_the_owners_latency_then_types_and_paces_its_bubbles(fake_ilink, run_weixin, twin_server):
    with clone_with_rhythm(twin_server, flat_rhythm(latency_s=40.0, gap_s_per_char=1.0)) as name:
        running = run_weixin(model=name, delay_scale=SCALE, max_tokens=32, request_timeout_s=300)
        sent_at = time.monotonic()
        fake_ilink.text(FRIEND, "hey, dinner tonight?", context_token="ctx-mia-1")
        wait_for(lambda: running.statuses() == ["answered"], timeout_s=300, what="the answer")  # a busy CPU: slow

        typing = [c for c in fake_ilink.calls_to("sendtyping") if c.body["ilink_user_id"] == FRIEND]
        sends = fake_ilink.sent(FRIEND)
        assert typing[0].body["status"] == 1 and typing[0].at - sent_at >= 2.0 - 0.05, "no typing before the wait"
        assert sends[0].at - sent_at >= 2.0 - 0.05, "the first bubble after the drawn 2 s"
        [wait] = running.bridge.rhythm.waits.rows(FRIEND)
        assert wait["outcome"] == "reply" and wait["drawn_latency_s"] == pytest.approx(40.0 * SCALE)
        assert wait["actual_latency_s"] >= 40.0 * SCALE
        lines = fake_ilink.texts_to(FRIEND)
        drawn, actual = json.loads(wait["drawn_gaps_s"]), json.loads(wait["actual_gaps_s"])
        assert drawn == pytest.approx([SCALE * len(line) for line in lines[1:]]), "a gap per character of its bubble"
        assert len(actual) == len(drawn) and all(a >= d - 0.01 for a, d in zip(actual, drawn, strict=True))
        between = [b.at - a.at for a, b in itertools.pairwise(sends)]
        assert all(gap >= d - 0.01 for gap, d in zip(between, drawn, strict=True))
