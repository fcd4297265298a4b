"""The rhythm `twin-train data` measures: reply latency by hour band and contact, bursts, no reply; train split only."""

from __future__ import annotations

import json
import math
import random

import numpy as np

from tests.training.formats.export_files import T0, run_data, shape_e
from wechat_twin.rhythm import QUANTILE_POINTS, contact_key
from wechat_twin.training.dataset.rhythm import grouped_quantiles

DAY = 86400
TEN_AM = T0 - 2 * 3600  # T0 is noon in Shanghai, the default time zone


def owner_export(path):
    """小王: 40 daily sessions at 10:00; the owner answers after 30 + i s, in two bubbles 8 s apart (2 s a
    character of the second, "abcd"); every fourth session ends on a friend's line left unanswered.
    Tom: 5 sessions at 22:00 answered after 600 s in one bubble. A group, answered at once, never counts."""
    rows = []
    for i in range(40):
        start = TEN_AM + i * DAY
        rows += [("7", False, start, "在吗", "", "小王", "小王"), ("7", False, start + 5, "有空吗", "", "小王", "小王")]
        reply = start + 5 + 30 + i
        rows += [("7", True, reply, "ab", "", "小王", "小王"), ("7", True, reply + 8, "abcd", "", "小王", "小王")]
        if i % 4 == 0:
            rows.append(("7", False, reply + 100, "ok", "", "小王", "小王"))
    for i in range(5):
        start = TEN_AM + 12 * 3600 + i * DAY
        rows += [("8", False, start, "hi", "", "Tom", "Tom"), ("8", True, start + 600, "hey", "", "Tom", "Tom")]
    rows += [
        ("9", False, TEN_AM + 60, "打球吗", "", "周末群", "阿强"),
        ("9", False, TEN_AM + 61, "去", "", "周末群", "Sunny"),
        ("9", True, TEN_AM + 62, "go~", "", "周末群", ""),
    ]
    rows.sort(key=lambda row: row[2])
    return shape_e(path, rows)


def _rhythm(tmp_path, *options):
    result = run_data(
        owner_export(tmp_path / "messages.csv"), "--out", tmp_path / "out", "--include-groups", "--no-memory", *options
    )
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "out" / "report.json").read_text())["rhythm"], result.output


def test_the_report_carries_latency_by_band_and_contact_bursts_and_no_reply(tmp_path):
    rhythm, output = _rhythm(tmp_path, "--dev-fraction", "0")
    latency = rhythm["latency_s"]
    assert latency["replies"] == 45, "one-to-one replies only: the group's is not one"
    assert len(latency["all"]) == QUANTILE_POINTS
    assert latency["all"][0] == 30 and latency["all"][-1] == 600, "from the friend's last line to the first reply"
    assert set(latency["bands"]) == {"8-12"}, "22:00 has 5 replies, too few for a band of its own"
    assert latency["bands"]["8-12"][0] == 30 and latency["bands"]["8-12"][-1] == 69
    [own] = latency["contacts"]
    assert own["replies"] == 40 and contact_key("小王") in own["keys"] and contact_key("7") in own["keys"]
    assert own["all"][-1] == 69, "Tom has 5 replies: the whole export stands for him"
    assert rhythm["turn_messages"] == {"1": round(5 / 45, 4), "2": round(40 / 45, 4)}
    assert rhythm["gap_s_per_char"] == [2.0] * QUANTILE_POINTS
    assert rhythm["friend_turns"] == 55 and rhythm["no_reply_rate"] == round(10 / 55, 4)
    assert "rhythm: 45 replies" in output


def test_the_dev_split_stays_out_of_the_rhythm(tmp_path):
    rhythm, _ = _rhythm(tmp_path, "--dev-fraction", "0.2")
    latency = rhythm["latency_s"]
    assert latency["replies"] == 36, "小王's 8 latest sessions and Tom's latest are the dev split"
    assert latency["bands"]["8-12"][-1] == 30 + 31


def _one_group_quantiles(values: list[float]) -> list[float]:
    """The quantiles one group at a time, as the import made them before `grouped_quantiles` (issue 31)."""
    ordered = sorted(values)
    last = len(ordered) - 1
    points = []
    for i in range(QUANTILE_POINTS):
        position = i / (QUANTILE_POINTS - 1) * last
        low = math.floor(position)
        high = min(low + 1, last)
        value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
        points.append(round(value, 1 if value >= 1 else 3))
    return points


def test_quantiles_of_every_group_at_once_are_each_groups_own_to_the_last_bit():
    """Groups of one, two and many values, ties, fractions that round either way, tiny and huge seconds."""
    rng = random.Random(31)
    values, groups = [], []
    for group in rng.sample(range(10_000), 300):
        size = rng.choice([1, 2, 3, 20, 21, 57, 400])
        scale = rng.choice([0.001, 0.37, 1.0, 45.5, 86400.0])
        values += [round(rng.expovariate(1 / scale), rng.choice([0, 3, 9])) for _ in range(size)]
        groups += [group] * size
    found = grouped_quantiles(np.array(values), np.array(groups))
    for group in set(groups):
        own = [v for v, g in zip(values, groups, strict=True) if g == group]
        assert found[group] == (len(own), _one_group_quantiles(own)), group
