"""Did the new adapter learn the feedback? Rewards and likelihoods before and after training.

The implicit reward of a reply is beta * (log p_new - log p_parent), the quantity DPO and
KTO optimise; its accuracy on pairs (chosen reward above rejected) and on labels (the
reward's sign matching the thumbs) is what TRL logs, measured here on every item, on the
training and the held-out feedback, so `twin.json` holds numbers for the whole set rather
than the last logged batch. Before training the parent is its own reference, so every
reward is 0 by definition; the likelihood scores (mean log-probability per token, which
does not favour short replies) say whether the parent already preferred what the owner
preferred, and compare parent and child on the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from tqdm import tqdm


@dataclass(frozen=True)
class CompletionScore:
    logp: float
    tokens: int

    @property
    def per_token(self) -> float:
        return self.logp / self.tokens


@dataclass
class EvalSet:
    """Rendered feedback to score: pairs as (prompt, chosen, rejected), labels as (prompt, completion, label)."""

    pairs: list[tuple[str, str, str]] = field(default_factory=list)
    labels: list[tuple[str, str, bool]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.pairs or self.labels)

    def fitting(self, tokenizer: Any, max_length: int | None) -> EvalSet:
        """Without items whose prompt alone fills max_length: TRL drops those from training, and so do the metrics."""
        if max_length is None:
            return self

        def fits(prompt: str) -> bool:
            return len(tokenizer(text=prompt)["input_ids"]) < max_length

        return EvalSet([p for p in self.pairs if fits(p[0])], [r for r in self.labels if fits(r[0])])


@dataclass
class SetScores:
    pairs: list[tuple[CompletionScore, CompletionScore]]
    labels: list[CompletionScore]


def _common_prefix(a: list[int], b: list[int]) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


def reply_tokens(tokenizer: Any, prompt: str, completion: str, max_length: int | None) -> tuple[list[int], int]:
    """Tokenised as TRL does: EOS appended, prompt+completion encoded together, truncated from the end."""
    eos = tokenizer.eos_token
    text = completion if completion.endswith(eos) else completion + eos
    prompt_ids = tokenizer(text=prompt)["input_ids"]
    full = tokenizer(text=prompt + text)["input_ids"]
    start = _common_prefix(prompt_ids, full)
    if max_length is not None:
        full = full[:max_length]
    return full, start


def score_completion(
    model: Any, tokenizer: Any, prompt: str, completion: str, max_length: int | None
) -> CompletionScore:
    import torch

    ids, start = reply_tokens(tokenizer, prompt, completion, max_length)
    if start < 1 or start >= len(ids):
        raise ValueError(f"the prompt fills max_length={max_length}: no reply token is left to score")
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    reply = input_ids[0, start:]
    with torch.no_grad():
        # Only the positions that predict reply tokens need the (vocabulary-sized) LM head.
        logits = model(input_ids=input_ids, logits_to_keep=len(reply) + 1).logits[0, :-1].float()
    token_logps = torch.log_softmax(logits, dim=-1).gather(-1, reply.unsqueeze(-1)).squeeze(-1)
    return CompletionScore(float(token_logps.sum()), len(reply))


def score_set(model: Any, tokenizer: Any, items: EvalSet, max_length: int | None, desc: str) -> SetScores:
    was_training = model.training
    model.eval()
    total = 2 * len(items.pairs) + len(items.labels)
    with tqdm(total=total, desc=desc, unit="reply", leave=False) as progress:

        def score(prompt: str, completion: str) -> CompletionScore:
            result = score_completion(model, tokenizer, prompt, completion, max_length)
            progress.update(1)
            return result

        pairs = [(score(p, c), score(p, r)) for p, c, r in items.pairs]
        labels = [score(p, c) for p, c, _ in items.labels]
    model.train(was_training)
    return SetScores(pairs, labels)


def _pair_summary(
    parent: list[tuple[CompletionScore, CompletionScore]],
    model: list[tuple[CompletionScore, CompletionScore]],
    beta: float,
) -> dict[str, float]:
    margins = [
        beta * ((mc.logp - pc.logp) - (mr.logp - pr.logp)) for (pc, pr), (mc, mr) in zip(parent, model, strict=True)
    ]
    return {
        "reward_accuracy": fmean(m > 0 for m in margins),
        "reward_margin": fmean(margins),
        "likelihood_accuracy": fmean(mc.per_token > mr.per_token for mc, mr in model),
    }


def _label_summary(
    parent: list[CompletionScore], model: list[CompletionScore], labels: list[bool], beta: float
) -> dict[str, float | None]:
    rewards = [beta * (m.logp - p.logp) for p, m in zip(parent, model, strict=True)]
    good = [r for r, label in zip(rewards, labels, strict=True) if label]
    bad = [r for r, label in zip(rewards, labels, strict=True) if not label]
    good_lik = [m.per_token for m, label in zip(model, labels, strict=True) if label]
    bad_lik = [m.per_token for m, label in zip(model, labels, strict=True) if not label]
    return {
        "reward_accuracy": fmean((r > 0) if label else (r < 0) for r, label in zip(rewards, labels, strict=True)),
        "reward_margin": fmean(good) - fmean(bad) if good and bad else None,
        "likelihood_margin": fmean(good_lik) - fmean(bad_lik) if good_lik and bad_lik else None,
    }


def compare(before: SetScores, after: SetScores, items: EvalSet, beta: float) -> dict[str, Any]:
    """Summaries for `twin.json`: before = the parent against itself, after = the new adapter against the parent."""
    summary: dict[str, Any] = {}
    if items.pairs:
        summary["pairs"] = {
            "count": len(items.pairs),
            "before": _pair_summary(before.pairs, before.pairs, beta),
            "after": _pair_summary(before.pairs, after.pairs, beta),
        }
    if items.labels:
        labels = [label for _, _, label in items.labels]
        summary["labels"] = {
            "count": len(labels),
            "good": sum(labels),
            "bad": len(labels) - sum(labels),
            "before": _label_summary(before.labels, before.labels, labels, beta),
            "after": _label_summary(before.labels, after.labels, labels, beta),
        }
    return summary
