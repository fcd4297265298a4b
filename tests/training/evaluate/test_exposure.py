"""Exposure and the canaries' shapes without a model: the arithmetic of "The Secret Sharer", worked by hand."""

from __future__ import annotations

import math
import random

import pytest

from wechat_twin.training.dataset.privacy import Redactor
from wechat_twin.training.evaluate.canaries.exposure import (
    ESTIMATE_CAP,
    estimated_exposure,
    exposure,
    rank_of,
    summarise,
)
from wechat_twin.training.evaluate.canaries.plant import plant
from wechat_twin.training.evaluate.canaries.shapes import Shape, Side, candidates, draw_canaries


def test_rank_counts_the_candidates_the_model_finds_more_likely() -> None:
    assert rank_of(1.0, [2.0, 3.0, 4.0]) == 1
    assert rank_of(3.5, [2.0, 3.0, 4.0]) == 3
    assert rank_of(9.0, [2.0, 3.0, 4.0]) == 4
    assert rank_of(3.0, [3.0, 3.0]) == 1  # a tie goes to the canary


def test_exposure_is_log2_population_minus_log2_rank() -> None:
    assert exposure(1, 1024) == 10.0  # ranked first of 1024: 10 bits
    assert exposure(1024, 1024) == 0.0  # ranked last: none
    assert exposure(512, 1024) == 1.0  # the middle: one bit
    assert exposure(3, 24) == 3.0
    with pytest.raises(ValueError):
        exposure(0, 8)


def test_a_canary_never_seen_averages_about_one_bit() -> None:
    """Over every rank a random canary can take, exposure averages log2 N - log2(N!)/N, about 1.44 bits."""
    n = 1000
    mean = sum(exposure(r, n) for r in range(1, n + 1)) / n
    assert mean == pytest.approx(math.log2(n) - math.lgamma(n + 1) / math.log(2) / n)
    assert 1.3 < mean < 1.5


def test_the_estimate_reads_the_canarys_rarity_off_a_normal_fit() -> None:
    losses = [9.0, 11.0] * 50  # mean 10, spread 1
    assert estimated_exposure(10.0, losses) == pytest.approx(1.0)  # the mean: half are below it
    # two spreads below the mean: P = 0.02275, 5.46 bits, though no candidate list of 100 could show more than 6.66
    assert estimated_exposure(8.0, losses) == pytest.approx(-math.log2(0.0227501), abs=1e-3)
    assert estimated_exposure(10.0, [10.0] * 5) == 0.0
    assert estimated_exposure(1.0, [10.0] * 5) == estimated_exposure(-1e9, losses) == ESTIMATE_CAP  # finite JSON


def test_summary_groups_by_side_then_repeats_in_numeric_order() -> None:
    measured = [
        ("owner", 16, 9.0, True),
        ("owner", 16, 7.0, False),
        ("owner", 4, 2.0, False),
        ("friend", 1, 1.0, False),
    ]
    rows = [
        {"side": s, "repeats": r, "exposure": e, "exposure_base": 1.0, "estimated_exposure": e, "extracted": x}
        | {"extracted_base": False}
        for s, r, e, x in measured
    ]
    summary = summarise(rows, ("side", "repeats"))
    assert list(summary) == ["friend", "owner"] and list(summary["owner"]) == ["4", "16"]
    assert summary["owner"]["16"] == {
        "canaries": 2,
        "exposure": 8.0,
        "exposure_base": 1.0,
        "estimated_exposure": 8.0,
        "extracted": 1,
        "extracted_base": 0,
    }


def test_canaries_cover_every_side_and_repetition_with_unique_prefixes_the_privacy_filter_lets_through() -> None:
    canaries = draw_canaries(18, (1, 4, 16), random.Random(3))
    assert {(c.shape, c.side, c.repeats) for c in canaries} == {
        (shape, side, n) for shape in Shape for side in Side for n in (1, 4, 16)
    }
    assert len({c.prefix for c in canaries}) == 18
    for c in canaries:
        assert Redactor().redact(c.text) == c.text  # shaped like what is not redacted
        others = candidates(c.shape, c.secret, 50, random.Random(1))
        assert len(set(others)) == 50 and c.secret not in others


def test_planting_puts_each_canary_in_as_many_samples_on_its_side() -> None:
    records = [
        {"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": f"yo {i}"}]}
        for i in range(20)
    ]
    canaries = draw_canaries(6, (1, 4, 16), random.Random(0))
    planted = plant(records, canaries, random.Random(0), redact_names=False)
    for p in planted:
        role = "user" if p.canary.side is Side.FRIEND else "assistant"
        holding = [m for r in records for m in r["messages"] if p.canary.text in m["content"]]
        assert len(holding) == p.canary.repeats == p.samples
        assert {m["role"] for m in holding} == {role}
        assert p.context[-1]["role"] == role and p.context[-1]["content"].endswith("\n" + p.canary.prefix)


def test_with_redact_names_a_canary_is_trained_without_its_name() -> None:
    records = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}] * 1
    records = [{"messages": [dict(m) for m in r["messages"]]} for r in records * 20]
    canaries = draw_canaries(2, (4,), random.Random(0))  # name_address, friend and owner
    planted = plant(records, canaries, random.Random(0), redact_names=True)
    text = "".join(m["content"] for r in records for m in r["messages"])
    for p in planted:
        assert p.canary.name and p.canary.name not in text
        assert text.count("<name>住在" + p.canary.secret) == 4
        assert p.canary.name in p.context[-1]["content"]  # the attacker still asks with the real name


def test_the_probe_refuses_to_start_without_a_dataset_and_eval_without_an_adapter(tmp_path) -> None:
    from typer.testing import CliRunner

    from wechat_twin.training.cli import app

    probe = CliRunner().invoke(app, ["eval", "--canaries", "3"])
    assert probe.exit_code != 0 and "--canaries needs a dataset" in probe.output
    plain = CliRunner().invoke(app, ["eval", "--data", str(tmp_path)])
    assert plain.exit_code != 0 and "give the ADAPTER folder" in plain.output
    assert not (tmp_path / "canaries").exists()
