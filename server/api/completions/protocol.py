"""Wire schemas of the legacy completions API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from wechat_twin.server.api.sampling import SamplingFields, StreamOptions, Usage


class CompletionRequest(SamplingFields):
    prompt: str | list[str]
    stream_options: StreamOptions | None = None
    echo: bool = False


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: str | None
    logprobs: None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
