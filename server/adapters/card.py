"""`twin.json`: what an adapter folder says about itself beyond peft's files.

The server reads the system prompt from it so that serving formats prompts exactly
as training did; training writes it. It lives here (not in `training/`) because
the server must not import training, while training may import the server.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wechat_twin.memory.recall import RecallSettings
from wechat_twin.private_files import write_private
from wechat_twin.server.basemodel.hub import HubOptions

CARD_FILE = "twin.json"


class TwinCard(BaseModel):
    """The contents of `twin.json` (docs/adapters.md)."""

    # Unknown fields are kept: a newer trainer's, and an older card's `data_window`, the sessions trained on,
    # which now has its own file beside the card (`window.json`) and only `twin-train update` reads.
    model_config = ConfigDict(extra="allow")

    base_model: str = Field(description="Served name or local path of the base model the LoRA was trained on")
    base_revision: str | None = Field(
        default=None,
        description="With a hub id as base_model: the branch, tag or commit trained on (`--revision`); none: the "
        "hub's main one",
    )
    system_prompt: str | None = Field(default=None, description="Persona prompt used in training")
    owner_name: str | None = None
    kind: str = Field(default="sft", description="sft, dpo, kto or cpt")
    parent_adapter: str | None = Field(default=None, description="The adapter this one was trained on top of (name)")
    parent: dict[str, Any] | None = Field(
        default=None,
        description="`twin-train update`: the parent adapter's `name`, `path` and `digest` (SHA-256 of its weights)",
    )
    data_options: dict[str, Any] | None = Field(
        default=None,
        description="The `twin-train data` options the training data was made with, which `twin-train update` "
        "reads new exports with; none on cards written before updates",
    )
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    date_split: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict, description="Dataset or feedback statistics")
    training_args: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    sampling: dict[str, float] = Field(
        default_factory=dict,
        description="Tuned sampling (`twin-train eval --tune-sampling`): used where a request leaves a field unset",
    )
    reply_tokens_p99: int | None = Field(
        default=None,
        ge=1,
        description="The owner's long replies: the 99th percentile of their turns in base-model tokens. The server "
        "gives a request without max_tokens this much room, plus a margin",
    )
    rhythm: dict[str, Any] | None = Field(
        default=None,
        description="The owner's reply rhythm (latency, bursts, no-reply rate) from the dataset report, which "
        "the bridge replays (docs/bridge.md); none on cards written before it was measured",
    )
    memory: str | None = Field(
        default=None, description="Memory file inside the folder (relative, no '..'); default: memory.sqlite there"
    )
    memory_k: int = Field(
        default=RecallSettings.k,
        ge=1,
        le=RecallSettings.MAX_K,
        description="Past exchanges retrieved per reply: what `twin-train sft --memory-k` trained with",
    )

    @property
    def recall_settings(self) -> RecallSettings:
        return RecallSettings(k=self.memory_k)

    def base_hub_options(self, given: HubOptions) -> HubOptions:
        """How to resolve `base_model` again: at the revision trained on, unless `--revision` says otherwise."""
        return given if given.revision else replace(given, revision=self.base_revision)


def read_card(adapter_dir: Path) -> TwinCard | None:
    """The folder's card, or None when it has none (a plain peft adapter still serves)."""
    path = Path(adapter_dir) / CARD_FILE
    if not path.is_file():
        return None
    return TwinCard.model_validate_json(path.read_text(encoding="utf-8"))


def write_card(adapter_dir: Path, card: TwinCard) -> Path:
    """Write owner-only: the card holds the persona prompt and dataset statistics."""
    path = Path(adapter_dir) / CARD_FILE
    return write_private(path, json.dumps(card.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n")
