"""The bodies of the version routes: which version a clone answers with (docs/adapters.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from wechat_twin.names import ADAPTER_NAME_PATTERN, NAME_PATTERN


class PromoteAdapterRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lora_name: str = Field(pattern=ADAPTER_NAME_PATTERN.pattern, description="The version to promote: `me@2`")


class RollbackAdapterRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    clone: str = Field(pattern=NAME_PATTERN.pattern, description="The clone to roll back: `me`")


class PromotionResponse(BaseModel):
    """What `model: clone` answered with before the switch, and what it answers with from now on."""

    clone: str
    previous: str | None = Field(description="The version served before; none when no version served yet")
    promoted: str
