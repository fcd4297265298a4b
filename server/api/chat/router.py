"""Thin routes: auth, then the serving logic."""

from fastapi import APIRouter, Depends, Request, Response

from wechat_twin.server.api.chat.protocol import ChatCompletionRequest
from wechat_twin.server.api.chat.serving import create_chat_completion
from wechat_twin.server.api.openapi import GENERATION_ERRORS
from wechat_twin.server.auth import require_api_key

router = APIRouter(dependencies=[Depends(require_api_key)])


@router.post("/chat/completions", responses=GENERATION_ERRORS)
async def chat_completions(request: Request, body: ChatCompletionRequest, response: Response):
    return await create_chat_completion(request, body, response)
