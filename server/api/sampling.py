"""Sampling fields shared by chat and plain completions, with OpenAI's bounds."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from wechat_twin.server.engines.base import SamplingOptions

# vLLM keeps a seed in an int64: outside it the engine fails (a 500) instead of refusing the value.
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1

TUNABLE = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "repetition_penalty")


class SamplingFields(BaseModel):
    """Unknown fields are ignored, not rejected: real clients send extras we do not use."""

    model_config = ConfigDict(extra="ignore")

    model: str
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1, le=8)
    stop: str | Annotated[list[str], Field(max_length=4)] | None = Field(default=None, description="Up to 4 sequences")
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX, description="A signed 64-bit integer")
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    repetition_penalty: float = Field(default=1.0, gt=0.0, le=2.0, description="vLLM's extension to OpenAI's API")
    user: str | None = None

    def stop_sequences(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return tuple(s for s in ([self.stop] if isinstance(self.stop, str) else self.stop) if s)

    def sampling(
        self, max_tokens: int, tuned: dict[str, float] | None = None, override: bool = False
    ) -> SamplingOptions:
        """The engine's options; `tuned` (an adapter's `twin.json` sampling) fills the fields the client left
        unset, or replaces them all with `override` (clients such as chatgpt-on-wechat always send temperature)."""
        options = self._requested(max_tokens)
        unset = set(TUNABLE) if override else set(TUNABLE) - self.model_fields_set
        chosen = {k: v for k, v in (tuned or {}).items() if k in unset}
        return replace(options, **chosen) if chosen else options

    def _requested(self, max_tokens: int) -> SamplingOptions:
        return SamplingOptions(
            max_tokens=max_tokens,
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            n=self.n,
            stop=self.stop_sequences(),
            seed=self.seed,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            repetition_penalty=self.repetition_penalty,
        )


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
