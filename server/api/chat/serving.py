"""Chat completions: lenient where real clients are sloppy, exact where they parse."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request, Response

from wechat_twin.memory.block import with_memory
from wechat_twin.server.adapters.registry import ModelTarget
from wechat_twin.server.api.chat.contact_memory import contact_memory
from wechat_twin.server.api.chat.protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    ChatMessageIn,
    ChatMessageOut,
)
from wechat_twin.server.api.chat.trimming import FittedPrompt, fit_history, wrapper_tokens
from wechat_twin.server.api.generation import Generation, GenerationStream, prepare, reply_budget, sse_stream
from wechat_twin.server.api.preparation import off_the_loop
from wechat_twin.server.auth import ready_model
from wechat_twin.server.engines.base import ChoiceDelta
from wechat_twin.server.errors import OpenAIError
from wechat_twin.server.prompting import ChatMessage, build_chat, render_chat_prompt

# How many of the client's messages were left out to fit the context (0 when all were sent).
DROPPED_HEADER = "X-Twin-Dropped-Messages"

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def _text_of(message: ChatMessageIn, index: int) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part_index, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text", "")))
        else:
            raise OpenAIError(
                400,
                f"content part of type {kind!r} is not supported: a clone reads text only",
                param=f"messages.{index}.content.{part_index}.type",
                code="unsupported_content",
            )
    return "\n".join(texts)


def _check_tools(body: ChatCompletionRequest) -> None:
    """Tools are accepted and answered as plain text; forcing a tool call cannot be honoured."""
    choice = body.tool_choice
    if choice is None or choice in ("auto", "none"):
        return
    raise OpenAIError(
        400,
        "tool_choice must be 'auto' or 'none': a clone answers in plain text and calls no tools",
        param="tool_choice",
        code="unsupported_tool_choice",
    )


def _check_response_format(body: ChatCompletionRequest) -> None:
    kind = (body.response_format or {}).get("type", "text")
    if kind != "text":
        raise OpenAIError(
            400,
            f"response_format {kind!r} is not supported; use 'text'",
            param="response_format.type",
            code="unsupported_response_format",
        )


def chat_messages(body: ChatCompletionRequest) -> list[ChatMessage]:
    messages: list[ChatMessage] = []
    for index, message in enumerate(body.messages):
        role = _ROLES.get(message.role)
        if role is None:
            raise OpenAIError(
                400,
                f"role {message.role!r} is not supported (system, user, assistant)",
                param=f"messages.{index}.role",
                code="invalid_value",
            )
        messages.append({"role": role, "content": _text_of(message, index)})
    if not any(m["role"] == "user" for m in messages):
        raise OpenAIError(400, "messages must contain at least one user message", param="messages")
    return messages


def _fit_prompt(
    request: Request, body: ChatCompletionRequest, target: ModelTarget, messages: list[ChatMessage], budget: int
) -> FittedPrompt:
    """The prompt's token ids, the history trimmed to fit if the server trims: CPU work, run off the loop."""
    state = request.app.state
    persona = target.adapter.persona if target.adapter else None
    settings = state.settings
    tokenizer = state.engine.tokenizer
    block = contact_memory(build_chat(messages, persona, settings.persona_overrides_client), target, request, body)

    def render(kept: list[ChatMessage]) -> list[int]:
        chat = build_chat(kept, persona, settings.persona_overrides_client)
        return render_chat_prompt(tokenizer, with_memory(chat, block))

    if not settings.trim_history:
        return FittedPrompt(render(messages), 0)

    def count(texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]] if texts else []

    # Room for the reply, but never more than half the context: a huge max_tokens must not erase the history.
    reply_room = min(budget, state.engine.max_model_len // 2)
    limit = state.engine.max_model_len - reply_room
    return fit_history(
        messages, render, limit, count, lambda: wrapper_tokens(lambda chat: render_chat_prompt(tokenizer, chat))
    )


async def create_chat_completion(request: Request, body: ChatCompletionRequest, response: Response):
    state = request.app.state
    _check_tools(body)
    _check_response_format(body)
    target = await ready_model(request, body.model)
    settings = state.settings
    budget = reply_budget(settings, target, body.max_completion_tokens or body.max_tokens)
    messages = chat_messages(body)
    fitted = await off_the_loop(request, lambda: _fit_prompt(request, body, target, messages, budget))
    prepared = prepare(request, target, body, fitted.prompt_token_ids, budget)
    generation = Generation(request, prepared, "chat")
    response.headers[DROPPED_HEADER] = str(fitted.dropped)
    if settings.log_message_text:
        state.text_logger.info("request %s messages=%r", prepared.request_id, messages)

    def header(**fields) -> dict:
        return {"id": f"chatcmpl-{prepared.request_id}", "created": prepared.created, "model": body.model, **fields}

    if not body.stream:
        finals = await generation.collect()
        return ChatCompletion(
            **header(),
            choices=[
                ChatChoice(index=f.index, message=ChatMessageOut(content=f.text), finish_reason=f.finish_reason)
                for f in finals
            ],
            usage=generation.usage,
        )

    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    started = set()

    def chunks(deltas: list[ChoiceDelta]) -> list[dict]:
        out = []
        for delta in deltas:
            first = delta.index not in started
            started.add(delta.index)
            if not delta.text and not first and delta.finish_reason is None:
                continue
            chunk = ChatCompletionChunk(
                **header(),
                choices=[
                    ChatChunkChoice(
                        index=delta.index,
                        delta=ChatDelta(role="assistant" if first else None, content=delta.text),
                        finish_reason=delta.finish_reason,
                    )
                ],
            )
            out.append(chunk.model_dump(exclude_none=True, exclude={"choices": {0: {"logprobs"}}}))
        return out

    def usage_chunk(usage) -> dict:
        return ChatCompletionChunk(**header(), choices=[], usage=usage).model_dump(exclude_none=True)

    return GenerationStream(
        generation,
        sse_stream(generation, chunks, usage_chunk if include_usage else None),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", DROPPED_HEADER: str(fitted.dropped)},
    )
