"""The numbers in twin.json mean what docs/preference.md says they mean."""

from __future__ import annotations

import pytest

from wechat_twin.training.preference.metrics import CompletionScore, EvalSet, SetScores, compare


def _s(logp: float, tokens: int = 4) -> CompletionScore:
    return CompletionScore(logp, tokens)


def test_pair_rewards_are_measured_against_the_parent():
    items = EvalSet(pairs=[("p1", "good", "bad"), ("p2", "good", "bad")])
    parent = SetScores(pairs=[(_s(-10), _s(-8)), (_s(-12), _s(-6))], labels=[])
    # pair 1: chosen up by 2, rejected down by 1 -> margin 0.1 * 3; pair 2: chosen down by 1 -> margin -0.1
    child = SetScores(pairs=[(_s(-8), _s(-9)), (_s(-13), _s(-6))], labels=[])
    summary = compare(parent, child, items, beta=0.1)["pairs"]
    assert summary["count"] == 2
    assert summary["before"] == {"reward_accuracy": 0.0, "reward_margin": 0.0, "likelihood_accuracy": 0.0}
    assert summary["after"]["reward_accuracy"] == 0.5
    assert summary["after"]["reward_margin"] == pytest.approx((0.3 - 0.1) / 2)
    assert summary["after"]["likelihood_accuracy"] == 0.5


def test_likelihood_is_per_token_so_a_long_chosen_reply_is_not_penalised():
    items = EvalSet(pairs=[("p", "a long chosen reply", "no")])
    scores = SetScores(pairs=[(_s(-20, tokens=20), _s(-3, tokens=1))], labels=[])
    assert compare(scores, scores, items, beta=0.1)["pairs"]["before"]["likelihood_accuracy"] == 1.0


def test_label_accuracy_needs_the_rewards_sign_to_match_the_label():
    items = EvalSet(labels=[("p", "a", True), ("p", "b", True), ("p", "c", False)])
    parent = SetScores(pairs=[], labels=[_s(-5), _s(-5), _s(-5)])
    child = SetScores(pairs=[], labels=[_s(-4), _s(-6), _s(-7)])
    summary = compare(parent, child, items, beta=1.0)["labels"]
    assert (summary["good"], summary["bad"]) == (2, 1)
    assert summary["before"]["reward_accuracy"] == 0.0
    assert summary["after"]["reward_accuracy"] == pytest.approx(2 / 3)
    assert summary["after"]["reward_margin"] == pytest.approx(0.0 - (-2.0))
