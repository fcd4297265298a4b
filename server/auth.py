"""Bearer API keys; adapter management needs an admin key; chat keys (`--chat-key NAME=KEY`) only chat.

Every accepted key has a name (`key_name`), so what a key holder does on the chat page, such as the
feedback they give, can be told apart from the owner's.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from wechat_twin.server.errors import OpenAIError

NO_KEY_NAME = "local"


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key")


def _matches(key: str | None, allowed: list[str]) -> bool:
    return key is not None and any(hmac.compare_digest(key.encode(), a.encode()) for a in allowed)


def _named_keys(settings) -> dict[str, str]:
    """Every key under its name: chat keys as given, API and admin keys numbered in the order given."""
    named = {f"admin-key-{i}": key for i, key in enumerate(settings.admin_keys, start=1)}
    named |= {f"api-key-{i}": key for i, key in enumerate(settings.api_keys, start=1)}
    return named | settings.chat_keys


def key_name(request: Request) -> str:
    """The name of the key this (already authorised) request came with; `local` on a server with no keys."""
    key = _presented_key(request)
    for name, allowed in _named_keys(request.app.state.settings).items():
        if _matches(key, [allowed]):
            return name
    return NO_KEY_NAME


def require_api_key(request: Request) -> None:
    keys = list(_named_keys(request.app.state.settings).values())
    if keys and not _matches(_presented_key(request), keys):
        raise OpenAIError(401, "missing or invalid API key: send `Authorization: Bearer <key>`", code="invalid_api_key")


def require_admin_key(request: Request) -> None:
    settings = request.app.state.settings
    key = _presented_key(request)
    if _matches(key, list(settings.chat_keys.values())):
        raise OpenAIError(403, "this key is limited to chatting: adapter management needs the admin key",
                          code="chat_only_key")  # fmt: skip
    if settings.admin_keys:
        if not _matches(key, settings.admin_keys):
            raise OpenAIError(401, "adapter management needs the admin key", code="invalid_api_key")
    elif settings.api_keys:
        if not _matches(key, settings.api_keys):
            raise OpenAIError(401, "missing or invalid API key: send `Authorization: Bearer <key>`",
                              code="invalid_api_key")  # fmt: skip
    elif settings.chat_keys:
        raise OpenAIError(401, "adapter management needs an API or admin key; this server has chat keys only",
                          code="invalid_api_key")  # fmt: skip
