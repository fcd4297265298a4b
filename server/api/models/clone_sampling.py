"""The sampling a model card shows: what a request that leaves the sampling fields unset is answered with.

For an adapter that is `twin.json`'s tuned sampling (`twin-train eval --tune-sampling`) and its reply budget
(`reply_tokens_p99`), else the server's defaults: worked out by the same code a request goes through, so the
card cannot say one thing while the server does another. The chat page shows these values for its empty
fields, and the bridge sends none unless the owner set them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from wechat_twin.server.adapters.registry import ModelTarget
from wechat_twin.server.api.generation import reply_budget
from wechat_twin.server.api.sampling import SamplingFields
from wechat_twin.server.config import ServerSettings


class CloneSampling(BaseModel):
    temperature: float
    top_p: float
    presence_penalty: float
    frequency_penalty: float
    repetition_penalty: float
    max_tokens: int = Field(description="The reply budget, before it is clamped to the context left")


def clone_sampling(settings: ServerSettings, target: ModelTarget) -> CloneSampling:
    card = target.adapter.card if target.adapter else None
    unset = SamplingFields(model=target.served_name)
    options = unset.sampling(reply_budget(settings, target, None), card.sampling if card else None)
    return CloneSampling.model_validate(options, from_attributes=True)
