"""The base model, every servable adapter (parent = base; loaded or not yet), each versioned clone's bare name
(answering with its promoted version) and aliases, in OpenAI's list shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from wechat_twin.names import split_version
from wechat_twin.server.adapters.registry import AdapterRegistry, ServedAdapter
from wechat_twin.server.api.models.clone_sampling import CloneSampling, clone_sampling
from wechat_twin.server.api.openapi import READ_ERRORS
from wechat_twin.server.auth import can_manage, identity, require_api_key, visible_names
from wechat_twin.server.errors import OpenAIError

router = APIRouter(dependencies=[Depends(require_api_key)])


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "wechat-twin"
    root: str
    parent: str | None = None
    max_model_len: int | None = None
    owner_name: str | None = Field(default=None, description="Whose clone this is (the adapter's twin.json)")
    base_model: str | None = Field(default=None, description="The base the adapter was trained on (twin.json)")
    sampling: CloneSampling = Field(
        description="What a request that leaves a sampling field unset gets: the adapter's tuned sampling and "
        "reply budget (twin.json), else the server's"
    )
    rhythm: dict[str, Any] | None = Field(
        default=None,
        description="The owner's reply rhythm the bridge replays "
        "(twin.json); shown to the owner's keys, not to chat keys",
    )
    versions: list[str] | None = Field(
        default=None, description="A versioned clone's versions (`me@1`, `me@2`, ...), oldest first"
    )
    promoted: str | None = Field(
        default=None, description="The version the clone's bare name answers with now (promoted, else the highest)"
    )


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


def _cards(request: Request) -> list[ModelCard]:
    """What this key may use; adapter folders' paths (vLLM's `root`) only for keys that manage adapters."""
    registry = request.app.state.registry
    registry.scan()  # clones dropped into the adapters folder since are listed, loaded or not
    max_len = request.app.state.engine.max_model_len
    show_paths = can_manage(request.app.state.settings, identity(request))
    show_rhythm = identity(request).chooses_contact  # per-contact timing: the bridge's and the owner's, no friend's

    def sampling(name: str) -> CloneSampling:
        return clone_sampling(request.app.state.settings, registry.resolve(name))

    def adapter_card(card_id: str, adapter: ServedAdapter, clone: str | None) -> ModelCard:
        return ModelCard(
            id=card_id,
            created=adapter.created,
            root=str(adapter.ref.path) if show_paths else adapter.ref.name,
            parent=registry.base_name,
            max_model_len=max_len,
            owner_name=adapter.card.owner_name if adapter.card else None,
            base_model=adapter.card.base_model if adapter.card else None,
            sampling=sampling(card_id),
            rhythm=adapter.card.rhythm if adapter.card and show_rhythm else None,
            versions=registry.versions(clone) if clone else None,
            promoted=_serving(registry, clone) if clone else None,
        )

    cards = [
        ModelCard(
            id=registry.base_name,
            created=registry.created,
            root=registry.base_name,
            max_model_len=max_len,
            sampling=sampling(registry.base_name),
        )
    ]
    cards += [adapter_card(a.ref.name, a, _clone_of(a.ref.name)) for a in registry.adapters]
    for clone in registry.versioned_clones():
        try:
            adapter = registry.resolve(clone).adapter
        except OpenAIError:  # an unreadable promotion record: its versions are still listed by their names
            continue
        if adapter is not None:
            cards.append(adapter_card(clone, adapter, clone))
    for alias, name in registry.aliases.items():
        target = registry.resolve(name)
        parent = registry.base_name if target.adapter else None
        cards.append(
            ModelCard(
                id=alias,
                created=registry.created,
                root=name,
                parent=parent,
                max_model_len=max_len,
                sampling=sampling(alias),
            )
        )
    visible = set(visible_names(request, [card.id for card in cards]))
    return [card for card in cards if card.id in visible]


def _serving(registry: AdapterRegistry, clone: str) -> str | None:
    """None while the clone's promotion record cannot be read: its versions are still listed."""
    try:
        return registry.serving(clone)
    except OpenAIError:
        return None


def _clone_of(name: str) -> str | None:
    clone, version = split_version(name)
    return clone if version is not None else None


@router.get("/models", responses=READ_ERRORS)
async def list_models(request: Request) -> ModelList:
    return ModelList(data=_cards(request))


@router.get("/models/{model_id:path}", responses=READ_ERRORS)
async def get_model(request: Request, model_id: str) -> ModelCard:
    for card in _cards(request):
        if card.id == model_id:
            return card
    raise OpenAIError(404, f"The model '{model_id}' does not exist", param="model", code="model_not_found")
