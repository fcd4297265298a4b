"""Plain completions: the prompt text goes to the model as it is, with no chat template."""

from __future__ import annotations

from fastapi import Request

from wechat_twin.server.api.completions.protocol import Completion, CompletionChoice, CompletionRequest
from wechat_twin.server.api.generation import Generation, GenerationStream, prepare, sse_stream
from wechat_twin.server.api.preparation import off_the_loop
from wechat_twin.server.auth import ready_model
from wechat_twin.server.engines.base import ChoiceDelta
from wechat_twin.server.errors import OpenAIError

# OpenAI's default for the legacy completions API.
COMPLETIONS_DEFAULT_MAX_TOKENS = 16


async def create_completion(request: Request, body: CompletionRequest):
    state = request.app.state
    if isinstance(body.prompt, list):
        if len(body.prompt) != 1:
            raise OpenAIError(400, "send one prompt per request", param="prompt")
        prompt = body.prompt[0]
    else:
        prompt = body.prompt
    if not prompt:
        raise OpenAIError(400, "prompt must not be empty", param="prompt")
    target = await ready_model(request, body.model)
    tokenizer = state.engine.tokenizer
    prompt_ids = await off_the_loop(request, lambda: list(tokenizer(prompt, add_special_tokens=True)["input_ids"]))
    prepared = prepare(request, target, body, prompt_ids, body.max_tokens or COMPLETIONS_DEFAULT_MAX_TOKENS)
    generation = Generation(request, prepared, "completions")
    echo = prompt if body.echo else ""

    def header() -> dict:
        return {"id": f"cmpl-{prepared.request_id}", "created": prepared.created, "model": body.model}

    if not body.stream:
        finals = await generation.collect()
        return Completion(
            **header(),
            choices=[
                CompletionChoice(index=f.index, text=echo + f.text, finish_reason=f.finish_reason) for f in finals
            ],
            usage=generation.usage,
        )

    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    echoed: set[int] = set()

    def chunks(deltas: list[ChoiceDelta]) -> list[dict]:
        out = []
        for delta in deltas:
            text = delta.text
            if echo and delta.index not in echoed:
                echoed.add(delta.index)
                text = echo + text
            if not text and delta.finish_reason is None:
                continue
            out.append(
                Completion(
                    **header(),
                    choices=[CompletionChoice(index=delta.index, text=text, finish_reason=delta.finish_reason)],
                ).model_dump(exclude_none=True)
            )
        return out

    def usage_chunk(usage) -> dict:
        return Completion(**header(), choices=[], usage=usage).model_dump(exclude_none=True)

    return GenerationStream(
        generation,
        sse_stream(generation, chunks, usage_chunk if include_usage else None),
        headers={"Cache-Control": "no-cache"},
    )
