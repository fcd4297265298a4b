"""The blind test's API (`/chat/api/blind/...`): a held-out moment, the owner's real reply and the clone's, a pick.

Who may see what: a moment shows the owner's real reply to a friend, so the owner's keys (API, admin, a keyless
loopback server) may judge any contact, and a friend's chat key only the moments of its own contact, and only
when the owner turned `blind` on for that key (docs/security.md). A chat key without it, or speaking as no
contact, is refused (403) before any moment is read; a contact it names is ignored, as in chat.

The clone's reply is generated as the chat route would answer that friend: the clone's own sampling and reply
budget (twin.json) and its memory for the contact. Which side holds the owner's reply is drawn here and stored
with the trial; the page learns it only from the pick's answer. Nothing of the text is logged.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import Request, Response

from wechat_twin.feedback.blind import BlindTrials
from wechat_twin.feedback.store import ChoiceTaken
from wechat_twin.server.adapters.heldout import Moment, read_moments
from wechat_twin.server.adapters.registry import ServedAdapter
from wechat_twin.server.api.chat.protocol import ChatCompletionRequest, ChatMessageIn
from wechat_twin.server.api.chat.serving import create_chat_completion
from wechat_twin.server.auth import Identity, identity, ready_model
from wechat_twin.server.errors import OpenAIError
from wechat_twin.server.web.api.protocol import PickRequest, PickResult, Trial, TrialRequest, Turn

logger = logging.getLogger("wechat_twin.server.feedback")


def may_judge(who: Identity) -> bool:
    """The owner's keys always; a chat key when the owner enabled it and it speaks as a contact."""
    return who.chat is None or (who.chat.blind and who.chat.contact is not None)


def _judge(request: Request) -> Identity:
    who = identity(request)
    if not may_judge(who):
        raise OpenAIError(
            403,
            "this key may not judge the blind test: the owner turns it on per key (blind = true) for a key that "
            "speaks as a contact",
            code="blind_not_enabled",
        )
    return who


def _trials(request: Request) -> BlindTrials:
    trials = request.app.state.blind
    if trials is None:
        raise OpenAIError(
            404, "this server keeps no feedback: start it with --feedback-db or --adapters", code="feedback_disabled"
        )
    return trials


def _contact_key(adapter: ServedAdapter, name: str) -> str:
    """A contact's name as the dataset keys it: through the clone's memory where it knows the name."""
    found = adapter.memory.contact_of(name) if adapter.memory is not None else None
    return found or name


def _moments(who: Identity, adapter: ServedAdapter, named: str | None) -> list[Moment]:
    moments = read_moments(adapter.ref.path)
    contact = who.chat.contact if who.chat is not None else named
    if contact is None:
        return moments
    key = _contact_key(adapter, contact)
    return [m for m in moments if m.contact == key]


def _draw(moments: list[Moment], seen: set[str]) -> Moment:
    """A moment this judge has not judged on this clone yet while there is one; then any again."""
    fresh = [m for m in moments if m.id not in seen]
    return secrets.choice(fresh or moments)


async def make_trial(request: Request, body: TrialRequest) -> Trial:
    who = _judge(request)
    trials = _trials(request)
    target = await ready_model(request, body.model)  # loaded: its memory resolves the contact's name
    if target.adapter is None:
        raise OpenAIError(
            400, f"{body.model} is the base model: it has no owner to judge", param="model", code="not_a_clone"
        )
    moments = _moments(who, target.adapter, body.contact)
    if not moments:
        raise OpenAIError(
            404,
            f"no held-out moment of {body.model} for this key (its folder needs heldout.jsonl: docs/chat-page.md)",
            param="model",
            code="no_moments",
        )
    request.app.state.feedback_rate.spend(who.name)
    adapter = target.adapter.ref.name
    moment = _draw(moments, trials.seen(adapter, who.name))
    completion = await create_chat_completion(
        request,
        ChatCompletionRequest(
            model=body.model,
            messages=[ChatMessageIn(role=t["role"], content=t["content"]) for t in moment.context],
            user=moment.contact,  # the clone answers this friend with its memory of them (a chat key: its own)
        ),
        Response(),
    )
    clone = completion.choices[0].message.content or ""
    owner_side = secrets.randbelow(2)
    candidates = [moment.reply, clone] if owner_side == 0 else [clone, moment.reply]
    base = request.app.state.registry.base_name
    trial_id = trials.record_trial(
        adapter, base, moment.contact, moment.id, who.name, moment.context, candidates, owner_side
    )
    logger.info("blind trial=%d model=%s from=%s", trial_id, adapter, who.name)
    return Trial(
        trial_id=trial_id,
        model=adapter,
        contact=moment.contact,
        messages=[Turn(**turn) for turn in moment.context],
        candidates=candidates,
    )


def record_pick(request: Request, trial_id: int, body: PickRequest) -> PickResult:
    who = _judge(request)
    trials = _trials(request)
    trial = trials.find(trial_id)
    if trial is None or trial["judge"] != who.name:
        raise OpenAIError(404, f"no blind trial {trial_id} from this key", param="trial_id", code="trial_not_found")
    try:
        trials.record_pick(trial_id, body.picked)
    except ChoiceTaken:
        raise OpenAIError(
            409, f"trial {trial_id} was already judged", param="trial_id", code="already_chosen"
        ) from None
    owner_side = int(trial["owner_side"])
    logger.info("blind pick trial=%d from=%s", trial_id, who.name)
    return PickResult(trial_id=trial_id, owner_side=owner_side, fooled=body.picked != owner_side)
