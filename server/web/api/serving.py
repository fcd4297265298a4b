"""Feedback from the chat page, stored as the bridge stores WeChat's, so `twin-train dpo`/`kto` read both.

An exchange from the page has `chat_id` `web:<conversation>` and `chat_name` `web:<key name>`, and its
labels have labeler `web:<key name>`: the owner can tell a friend's 👍 from their own and drop a key's
feedback before training. A 👍/👎 names the reply it is about (the page streamed it over
/v1/chat/completions, which records nothing); "show two" is generated here, so its candidates are
the server's own. Nothing of the text is logged.
"""

from __future__ import annotations

import logging

from fastapi import Request, Response

from wechat_twin.feedback.store import ChoiceTaken, FeedbackStore
from wechat_twin.server.api.chat.protocol import ChatCompletionRequest, ChatMessageIn
from wechat_twin.server.api.chat.serving import create_chat_completion
from wechat_twin.server.api.models.clone_sampling import clone_sampling
from wechat_twin.server.auth import identity, key_name, resolve_model
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.errors import OpenAIError
from wechat_twin.server.web.api.blind import may_judge
from wechat_twin.server.web.api.protocol import (
    PAIR_TEMPERATURE,
    ChoiceRequest,
    FeedbackContext,
    LabelRequest,
    Pair,
    PairRequest,
    Recorded,
    Session,
)

logger = logging.getLogger("wechat_twin.server.feedback")


def open_store(settings: ServerSettings) -> FeedbackStore | None:
    """The feedback database (a SQLite file, or PostgreSQL shared with other replicas), or None: no feedback."""
    location = settings.feedback_path()
    return FeedbackStore(location) if location is not None else None


def _store(request: Request) -> FeedbackStore:
    """The database to write to, once this key may write once more (429 past its rate)."""
    state = request.app.state
    if state.feedback is None:
        raise OpenAIError(
            404, "this server keeps no feedback: start it with --feedback-db or --adapters", code="feedback_disabled"
        )
    state.feedback_rate.spend(key_name(request))
    return state.feedback


def _source(request: Request) -> str:
    return f"web:{key_name(request)}"


def _exchange_fields(request: Request, body: FeedbackContext) -> dict:
    """Where the exchange came from and what it answered; the model must be served and the last turn the friend's."""
    registry = request.app.state.registry
    target = resolve_model(request, body.model)
    if body.messages[-1].role != "user":
        raise OpenAIError(
            400, "the last message must be the friend's (role user)", param="messages", code="invalid_value"
        )
    return {
        "chat_id": f"web:{body.conversation}",
        "chat_name": _source(request),
        "adapter": target.adapter.ref.name if target.adapter else registry.base_name,
        "base_model": registry.base_name,
        "context": [turn.model_dump() for turn in body.messages],
    }


def session(request: Request) -> Session:
    who = identity(request)
    feedback = request.app.state.feedback is not None
    return Session(key_name=who.name, feedback=feedback, blind=feedback and may_judge(who))


def record_label(request: Request, body: LabelRequest) -> Recorded:
    store = _store(request)
    exchange_id = store.record_exchange(**_exchange_fields(request, body), reply=body.reply)
    store.record_label(exchange_id, body.good, _source(request))
    logger.info("label exchange=%d from=%s good=%s", exchange_id, _source(request), body.good)
    return Recorded(exchange_id=exchange_id)


async def make_pair(request: Request, body: PairRequest) -> Pair:
    store = _store(request)
    fields = _exchange_fields(request, body)
    own = clone_sampling(request.app.state.settings, resolve_model(request, body.model)).temperature
    completion = await create_chat_completion(
        request,
        ChatCompletionRequest(
            model=body.model,
            messages=[ChatMessageIn(role=t.role, content=t.content) for t in body.messages],
            n=2,
            temperature=body.temperature or own or PAIR_TEMPERATURE,  # two candidates need one above 0
            max_tokens=body.max_tokens,
        ),
        Response(),  # the pair is answered in this route's own body: the chat route's headers are not sent
    )
    candidates = [choice.message.content for choice in sorted(completion.choices, key=lambda c: c.index)]
    exchange_id = store.record_exchange(**fields, candidates=candidates)
    logger.info("pair exchange=%d from=%s", exchange_id, _source(request))
    return Pair(exchange_id=exchange_id, candidates=candidates)


def record_choice(request: Request, exchange_id: int, body: ChoiceRequest) -> Recorded:
    store = _store(request)
    exchange = store.find_exchange(exchange_id)
    if exchange is None or exchange["candidates"] is None or exchange["chat_name"] != _source(request):
        raise OpenAIError(404, f"no pair {exchange_id} from this key", param="exchange_id", code="pair_not_found")
    try:
        if exchange["chosen"] is not None:
            raise ChoiceTaken(f"pair {exchange_id} was already chosen")
        # The store checks again inside its transaction: another replica (or tab) may have chosen meanwhile.
        store.record_choice(exchange_id, body.chosen, _source(request))
    except ChoiceTaken:
        raise OpenAIError(
            409, f"pair {exchange_id} was already chosen", param="exchange_id", code="already_chosen"
        ) from None
    logger.info("choice exchange=%d from=%s chosen=%d", exchange_id, _source(request), body.chosen)
    return Recorded(exchange_id=exchange_id)
