"""POST /v1/load_lora_adapter and /v1/unload_lora_adapter (admin key), as vLLM's server names them, and
/v1/promote_adapter and /v1/rollback_adapter: which version of a clone `model: NAME` answers with."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from wechat_twin.names import ADAPTER_NAME_PATTERN, split_version
from wechat_twin.server.api.adapters.protocol import PromoteAdapterRequest, PromotionResponse, RollbackAdapterRequest
from wechat_twin.server.api.openapi import ADMIN_ERRORS, PROMOTION_ERRORS
from wechat_twin.server.auth import require_admin_key

router = APIRouter(dependencies=[Depends(require_admin_key)])


class LoadLoRAAdapterRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lora_name: str = Field(pattern=ADAPTER_NAME_PATTERN.pattern)
    lora_path: str | None = None


class UnloadLoRAAdapterRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lora_name: str


@router.post("/load_lora_adapter", responses=ADMIN_ERRORS)
async def load_lora_adapter(request: Request, body: LoadLoRAAdapterRequest) -> PlainTextResponse:
    await request.app.state.registry.load(body.lora_name, body.lora_path)
    return PlainTextResponse(f"Success: LoRA adapter '{body.lora_name}' added successfully.")


@router.post("/unload_lora_adapter", responses=ADMIN_ERRORS)
async def unload_lora_adapter(request: Request, body: UnloadLoRAAdapterRequest) -> PlainTextResponse:
    await request.app.state.registry.unload(body.lora_name)
    return PlainTextResponse(f"Success: LoRA adapter '{body.lora_name}' removed successfully.")


@router.post("/promote_adapter", responses=PROMOTION_ERRORS)
async def promote_adapter(request: Request, body: PromoteAdapterRequest) -> PromotionResponse:
    """Requests admitted from now on for the clone get this version; those admitted before finish on theirs."""
    previous, now = await request.app.state.registry.promote(body.lora_name)
    return PromotionResponse(clone=split_version(body.lora_name)[0], previous=previous, promoted=now)


@router.post("/rollback_adapter", responses=PROMOTION_ERRORS)
async def rollback_adapter(request: Request, body: RollbackAdapterRequest) -> PromotionResponse:
    """Back to the version promoted before the one serving now."""
    previous, now = await request.app.state.registry.rollback(body.clone)
    return PromotionResponse(clone=body.clone, previous=previous, promoted=now)
