"""Score a planted canary against its candidates, and try to extract it, with the probe adapter and the base.

The context (the planted sample up to the prefix, rendered by the training template, so exactly what
training saw) is run once and its key/value cache reused for every candidate: a candidate costs its
few secret tokens, not the whole conversation again. The base is the same loaded model with the LoRA
switched off, so the two differ by training alone: the base's exposure is the control (about 1 bit).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from wechat_twin.training.common.chat_template import training_chat_template
from wechat_twin.training.common.model_loading import load_tokenizer
from wechat_twin.training.common.samples import Messages

BATCH = 64
EXTRA_TOKENS = 4  # greedy tokens past the secret's length: a tokenization that splits it differently still fits


@dataclass(frozen=True)
class Scored:
    loss: float  # the secret's summed loss after its prefix
    candidate_losses: list[float]
    completion: str  # the greedy continuation of the prefix


class CanaryScorer:
    """One loaded base model with the probe adapter on it."""

    def __init__(self, base_path: Path, adapter: Path):
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        self.tokenizer = load_tokenizer(base_path)
        self.template = training_chat_template(self.tokenizer)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32).to(device)
        self.model = PeftModel.from_pretrained(base, adapter).eval()

    def context_ids(self, context: Messages) -> tuple[list[int], str]:
        """The context's token ids and its rendered text, the last message left open for the secret."""
        text = self.tokenizer.apply_chat_template(
            context, chat_template=self.template, tokenize=False, continue_final_message=True
        )
        return self.tokenizer(text, add_special_tokens=False)["input_ids"], text

    def score(self, context: Messages, secret: str, candidates: Sequence[str], base: bool) -> Scored:
        """With `base`, the LoRA is off."""
        if base:
            with self.model.disable_adapter():
                return self._score(context, secret, candidates)
        return self._score(context, secret, candidates)

    def _score(self, context: Messages, secret: str, candidates: Sequence[str]) -> Scored:
        import torch

        ids, text = self.context_ids(context)
        with torch.inference_mode():
            run = self.model(input_ids=torch.tensor([ids], device=self.model.device), use_cache=True)
            first = torch.log_softmax(run.logits[0, -1].float(), dim=-1)
            tails = [self._tail(ids, text, s) for s in [secret, *candidates]]
            losses: list[float] = []
            for start in range(0, len(tails), BATCH):
                losses += self._tail_losses(run.past_key_values, len(ids), first, tails[start : start + BATCH])
            completion = self._greedy(ids, len(tails[0]) + EXTRA_TOKENS)
        return Scored(losses[0], losses[1:], completion)

    def _tail(self, ids: list[int], text: str, secret: str) -> list[int]:
        """The secret's tokens as they follow this context: from the joint tokenization where it keeps the
        context's tokens (a merge across the boundary is rare), else the secret tokenized alone."""
        joint = self.tokenizer(text + secret, add_special_tokens=False)["input_ids"]
        if joint[: len(ids)] == ids and len(joint) > len(ids):
            return joint[len(ids) :]
        return self.tokenizer(secret, add_special_tokens=False)["input_ids"]

    def _tail_losses(self, cache: Any, context_len: int, first: Any, tails: list[list[int]]) -> list[float]:
        import torch

        longest = max(map(len, tails))
        device = self.model.device
        padded = torch.tensor([t + [0] * (longest - len(t)) for t in tails], device=device)
        present = torch.tensor([[1] * len(t) + [0] * (longest - len(t)) for t in tails], device=device)
        batch_cache = copy.deepcopy(cache)
        batch_cache.batch_repeat_interleave(len(tails))
        mask = torch.cat([torch.ones(len(tails), context_len, dtype=present.dtype, device=device), present], dim=1)
        logits = self.model(input_ids=padded, attention_mask=mask, past_key_values=batch_cache).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, padded[:, 1:, None])[..., 0]
        losses = -first[padded[:, 0]] - (logp * present[:, 1:]).sum(dim=1)
        return losses.tolist()

    def _greedy(self, ids: list[int], tokens: int) -> str:
        import torch

        prompt = torch.tensor([ids], device=self.model.device)
        out = self.model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        )
        return self.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)


def score_all(scorer: CanaryScorer, jobs: list[tuple[Messages, str, list[str]]], progress: bool) -> list[dict]:
    """Per job (context, secret, candidates): the probe's and the base's scores."""
    results = []
    for context, secret, candidates in tqdm(jobs, desc="scoring canaries", unit="canary", disable=not progress):
        results.append(
            {
                "probe": scorer.score(context, secret, candidates, base=False),
                "base": scorer.score(context, secret, candidates, base=True),
            }
        )
    return results
