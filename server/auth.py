"""Who a request is, and what that key may reach (the kinds are described in `server.keys`).

Every accepted key has a name (`key_name`), so what a key holder does on the chat page, such as the
feedback they give, can be told apart from the owner's. A server with no keys (loopback only) treats
every request as the owner's (`local`): `server.gate` has already refused what did not come straight
from this machine.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import Enum

from fastapi import Request
from starlette.datastructures import Headers

from wechat_twin.server.adapters.registry import ModelTarget
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.errors import OpenAIError
from wechat_twin.server.keys import NO_KEY_NAME, ChatKey


class KeyKind(Enum):
    LOCAL = "local"  # a keyless loopback server: the owner
    ADMIN = "admin"
    API = "api"
    CHAT = "chat"


@dataclass(frozen=True)
class Identity:
    name: str
    kind: KeyKind
    chat: ChatKey | None = None

    @property
    def chooses_contact(self) -> bool:
        """The bridge and the owner's tools name the contact; a friend's key is its own contact or none."""
        return self.kind is not KeyKind.CHAT


def presented_key(headers: Headers) -> str | None:
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    fallback = headers.get("x-api-key", "").strip()
    return fallback or None


def _matches(key: str, allowed: str) -> bool:
    return hmac.compare_digest(key.encode(), allowed.encode())


def identify(settings: ServerSettings, headers: Headers) -> Identity | None:
    """The key's identity; `local` on a server with no keys; None for a missing or wrong key."""
    if settings.keyless:
        return Identity(NO_KEY_NAME, KeyKind.LOCAL)
    key = presented_key(headers)
    if key is None:
        return None
    found = None
    # Every comparison is made, so the time taken does not say which kind of key came close.
    for i, allowed in enumerate(settings.admin_keys, start=1):
        if _matches(key, allowed) and found is None:
            found = Identity(f"admin-key-{i}", KeyKind.ADMIN)
    for i, allowed in enumerate(settings.api_keys, start=1):
        if _matches(key, allowed) and found is None:
            found = Identity(f"api-key-{i}", KeyKind.API)
    for name, chat in settings.chat_keys.items():
        if _matches(key, chat.key) and found is None:
            found = Identity(name, KeyKind.CHAT, chat)
    return found


def _unauthorised() -> OpenAIError:
    return OpenAIError(401, "missing or invalid API key: send `Authorization: Bearer <key>`", code="invalid_api_key")


def identity(request: Request) -> Identity:
    found = identify(request.app.state.settings, request.headers)
    if found is None:
        raise _unauthorised()
    return found


def key_name(request: Request) -> str:
    """The name of the key this (already authorised) request came with; `local` on a server with no keys."""
    return identity(request).name


def require_api_key(request: Request) -> None:
    identity(request)


def can_manage(settings: ServerSettings, who: Identity) -> bool:
    """Admin keys; API keys when there is no admin key; the owner on a keyless server."""
    if who.kind is KeyKind.CHAT:
        return False
    return who.kind is not KeyKind.API or not settings.admin_keys


def require_admin_key(request: Request) -> None:
    settings = request.app.state.settings
    who = identify(settings, request.headers)
    if who is not None and who.kind is KeyKind.CHAT:
        raise OpenAIError(
            403, "this key is limited to chatting: adapter management needs the admin key", code="chat_only_key"
        )
    if who is None or not can_manage(settings, who):
        if settings.admin_keys:
            raise OpenAIError(401, "adapter management needs the admin key", code="invalid_api_key")
        if settings.api_keys:
            raise _unauthorised()
        raise OpenAIError(
            401, "adapter management needs an API or admin key; this server has chat keys only", code="invalid_api_key"
        )


def visible_names(request: Request, names: list[str]) -> list[str]:
    """The served names this key may use, in the order given."""
    registry = request.app.state.registry
    who = identity(request)
    if who.chat is None:
        return names
    return [n for n in names if who.chat.may_use(n, registry.aliases.get(n, n))]


def resolve_model(request: Request, model: str) -> ModelTarget:
    """`model` resolved for this key: a clone a chat key was not given is answered as one that does not exist,
    listing only the names it may use, so the key learns nothing about the others."""
    _check_may_use(request, model)
    return request.app.state.registry.resolve(model)


async def ready_model(request: Request, model: str) -> ModelTarget:
    """`resolve_model`, with the clone loaded onto the engine if this is its first use: what a generation needs."""
    _check_may_use(request, model)
    return await request.app.state.registry.ready(model)


def _check_may_use(request: Request, model: str) -> None:
    registry = request.app.state.registry
    who = identity(request)
    if who.chat is None or who.chat.may_use(model, registry.aliases.get(model, model)):
        return
    served = ", ".join(visible_names(request, registry.served_names()))
    raise OpenAIError(
        404,
        f"The model '{model}' does not exist. Served models: {served}",
        param="model",
        code="model_not_found",
    )


def contact_for(request: Request, named: str | None) -> str | None:
    """The contact a request speaks as: the one it names for keys that choose, the key's own for chat keys
    (whatever the request names, so neither the memory nor `usage.prompt_tokens` depends on it)."""
    who = identity(request)
    if who.chooses_contact:
        return named
    return who.chat.contact if who.chat else None
