"""Thin routes of the chat page's API under /chat/api: any accepted key, chat keys included."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from wechat_twin.server.auth import require_api_key
from wechat_twin.server.web.api import blind, serving
from wechat_twin.server.web.api.protocol import (
    MAX_EXCHANGE_ID,
    ChoiceRequest,
    LabelRequest,
    Pair,
    PairRequest,
    PickRequest,
    PickResult,
    Recorded,
    Session,
    Trial,
    TrialRequest,
)

router = APIRouter(prefix="/chat/api", dependencies=[Depends(require_api_key)])


@router.get("/session")
def session(request: Request) -> Session:
    return serving.session(request)


@router.post("/labels")
def label(request: Request, body: LabelRequest) -> Recorded:
    return serving.record_label(request, body)


@router.post("/pairs")
async def pair(request: Request, body: PairRequest) -> Pair:
    return await serving.make_pair(request, body)


@router.post("/pairs/{exchange_id}/choice")
def choice(
    request: Request, exchange_id: Annotated[int, Path(ge=1, le=MAX_EXCHANGE_ID)], body: ChoiceRequest
) -> Recorded:
    return serving.record_choice(request, exchange_id, body)


@router.post("/blind/trials")
async def blind_trial(request: Request, body: TrialRequest) -> Trial:
    return await blind.make_trial(request, body)


@router.post("/blind/trials/{trial_id}/pick")
def blind_pick(
    request: Request, trial_id: Annotated[int, Path(ge=1, le=MAX_EXCHANGE_ID)], body: PickRequest
) -> PickResult:
    return blind.record_pick(request, trial_id, body)
