"""Thin routes: auth, then the serving logic."""

from fastapi import APIRouter, Depends, Request

from wechat_twin.server.api.completions.protocol import CompletionRequest
from wechat_twin.server.api.completions.serving import create_completion
from wechat_twin.server.api.openapi import GENERATION_ERRORS
from wechat_twin.server.auth import require_api_key

router = APIRouter(dependencies=[Depends(require_api_key)])


@router.post("/completions", responses=GENERATION_ERRORS)
async def completions(request: Request, body: CompletionRequest):
    return await create_completion(request, body)
