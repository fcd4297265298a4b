"""Wire schemas of the legacy completions API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from wechat_twin.server.api.sampling import SamplingFields, StreamOptions, Usage


class CompletionRequest(SamplingFields):
    prompt: (
        Annotated[str, Field(min_length=1)]
        | Annotated[
            list[Annotated[str, Field(min_length=1)]],
            Field(min_length=1, max_length=1, description="One prompt per request"),
        ]
    )
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
