"""Bearer API keys; adapter management needs an admin key."""

from __future__ import annotations

import hmac

from fastapi import Request

from wechat_twin.server.errors import OpenAIError


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key")


def _matches(key: str | None, allowed: list[str]) -> bool:
    return key is not None and any(hmac.compare_digest(key.encode(), a.encode()) for a in allowed)


def require_api_key(request: Request) -> None:
    settings = request.app.state.settings
    keys = settings.api_keys + settings.admin_keys
    if keys and not _matches(_presented_key(request), keys):
        raise OpenAIError(401, "missing or invalid API key: send `Authorization: Bearer <key>`", code="invalid_api_key")


def require_admin_key(request: Request) -> None:
    settings = request.app.state.settings
    key = _presented_key(request)
    if settings.admin_keys:
        if not _matches(key, settings.admin_keys):
            raise OpenAIError(401, "adapter management needs the admin key", code="invalid_api_key")
    elif settings.api_keys and not _matches(key, settings.api_keys):
        raise OpenAIError(401, "missing or invalid API key: send `Authorization: Bearer <key>`", code="invalid_api_key")
