"""The memory rows of `eval --memory` and the tuned-sampling choice, as data: which block each row gets, the
verdict's interval, and the winner of the grid (no model needed)."""

from __future__ import annotations

import re

import pytest

from tests.training.formats.export_files import run_data
from tests.training.memory_export import TAG, tagged_export
from wechat_twin.memory.block import EXCHANGES_HEADER
from wechat_twin.memory.recall import recall
from wechat_twin.memory.store import MEMORY_FILE, MemoryStore
from wechat_twin.training.common.samples import read_sample_file
from wechat_twin.training.evaluate.memory_rows import (
    MEMORY,
    NONE,
    OTHERS,
    RANDOM,
    ROWS,
    row_blocks,
    verdict,
    with_blocks,
)
from wechat_twin.training.evaluate.report import sampling_table
from wechat_twin.training.evaluate.tuning import DEFAULTS, SamplingSearch, replies_key, tuning_report


@pytest.fixture(scope="module")
def dev_and_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rows") / "data"
    result = run_data(tagged_export(folder.parent / "m.csv"), "--out", folder, "--dev-fraction", "0.34")
    assert result.exit_code == 0, result.output
    dev = read_sample_file(folder / "dev.jsonl")
    store = MemoryStore(folder / MEMORY_FILE)
    yield dev, store
    store.close()


def chats_in(block: str | None) -> set[str]:
    return {chat for chat, _ in TAG.findall(block.split(EXCHANGES_HEADER, 1)[1])} if block else set()


def test_each_row_gets_its_own_block_and_memory_is_what_the_server_sends(dev_and_store):
    dev, store = dev_and_store
    blocks = row_blocks(store, dev.samples, dev.origins)
    assert list(blocks) == list(ROWS) and all(len(b) == len(dev.samples) for b in blocks.values())
    for i, (sample, origin) in enumerate(zip(dev.samples, dev.origins, strict=True)):
        own = TAG.search(sample[1]["content"]).group(1)
        assert blocks[NONE][i] is None
        assert blocks[MEMORY][i] == recall(store, origin.chat, sample[:-1])
        assert chats_in(blocks[MEMORY][i]) == chats_in(blocks[RANDOM][i]) == {own}
        assert chats_in(blocks[OTHERS][i]) and own not in chats_in(blocks[OTHERS][i])
    with_memory = with_blocks(dev.samples, blocks[MEMORY])
    assert [s[1:] for s in with_memory] == [s[1:] for s in dev.samples]
    assert with_blocks(dev.samples, blocks[NONE]) == dev.samples


def test_the_verdict_reports_the_gain_with_an_interval_that_holds_it():
    steady = [(2.0, 10)] * 20
    better = [(1.0, 10)] * 20
    mixed = [(1.0 + (i % 2) * 2.5, 10) for i in range(20)]
    result = verdict({NONE: steady, MEMORY: better, RANDOM: steady, OTHERS: mixed})
    main = result["against"][NONE]
    assert main["gain"] == pytest.approx(1 - 2.718281828**0.1 / 2.718281828**0.2)
    assert main["low"] == pytest.approx(main["gain"]) == pytest.approx(main["high"]), "no spread: no interval"
    assert result["helped"] and result["beats_controls"]
    assert re.search(
        r"\+9\.5% against no memory \(95% bootstrap interval \+9\.5% to \+9\.5%, 20 dev samples\)", result["text"]
    )
    noisy = verdict({NONE: mixed, MEMORY: steady, RANDOM: steady, OTHERS: steady})
    assert noisy["against"][NONE]["low"] < 0 < noisy["against"][NONE]["high"] and not noisy["helped"]
    assert "no clear effect" in noisy["text"] and not noisy["beats_controls"]


def test_tuning_picks_the_point_closest_to_the_owner_over_all_seeds_and_rechecks_it_on_fresh_ones():
    owner = ["ok la~\nsee you [旺柴]", "haha\nfine [捂脸]"]
    search = SamplingSearch(owner)
    points = search.points
    assert points[0] == DEFAULTS and len(points) == 17 and len({tuple(p.values()) for p in points}) == 17
    assert list(search.grid_seeds) == [0, 1, 2] and list(search.recheck_seeds) == [3, 4, 5]
    owner_like, bot_like = ["ok la~\nbye [旺柴]", "haha\nsure [捂脸]"], ["hmm"] * 2
    plain = ["ok la~\nbye", "haha\nsure"]
    replies = {replies_key(i, seed): bot_like for i in range(len(points)) for seed in search.grid_seeds}
    replies[replies_key(5, 0)] = owner_like  # one lucky seed
    replies |= {replies_key(7, seed): plain for seed in search.grid_seeds}  # never as close, but on every seed
    assert search.best(replies) == 7, "the mean over seeds, not the luckiest draw, picks the winner"
    assert search.rechecked(7) == [0, 7] and search.rechecked(0) == [0], "defaults as winner: sampled once"
    for seed, tuned in zip(search.recheck_seeds, (owner_like, owner_like, bot_like), strict=True):
        replies[replies_key(0, seed)] = bot_like
        replies[replies_key(7, seed)] = tuned
    report = tuning_report(search, replies)
    assert report["tuned"] == points[7] and report["seeds"] == [0, 1, 2]
    lucky = report["points"][5]
    assert lucky["per_seed"][0] < report["style_distance_to_owner"]["tuned"] < lucky["style_distance_to_owner"]
    assert report["style_distance_to_owner"]["tuned"] < report["style_distance_to_owner"]["defaults"]
    assert report["style"]["owner"]["wechat_emoji_rate"] == 1.0 and report["style"]["tuned"]["wechat_emoji_rate"] == 0
    recheck = report["recheck"]
    assert recheck["seeds"] == [3, 4, 5] and recheck["tuned_closer"] == 2, "the third seed's tuned is no closer"
    tuned, defaults = recheck["style_distance_to_owner"]["tuned"], recheck["style_distance_to_owner"]["defaults"]
    assert tuned[0] == tuned[1] < tuned[2] == defaults[0]
    text = sampling_table({"sampling": report})
    assert "tuned on 17 grid points, each scored by its mean over 3 seeds: temperature 0.7" in text
    bot = f"{defaults[0]:.3f}"
    assert re.search(
        rf"On 3 fresh seeds .* is {bot} \({bot} to {bot}\) at the defaults and "
        rf"{sum(tuned) / 3:.3f} \({tuned[0]:.3f} to {tuned[2]:.3f}\) tuned",
        text,
    )
    assert text.endswith("closer on 2 of 3.\n")
