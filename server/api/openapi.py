"""The OpenAPI document describes the server as it answers: every error status in OpenAI's shape, no 422.

FastAPI documents a 422 for every route with a body, but this server answers validation errors
with 400 in OpenAI's error shape (`server.errors`). Clients and schema-driven tools (schemathesis)
read this document, so each route lists the statuses it really returns.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`."""

    error: ErrorDetail


_MEANINGS = {
    400: "A value is invalid or unsupported (`param` names it), or the prompt does not fit the context",
    401: "Missing or wrong API key",
    403: "The key may not do this (a chat key managing adapters)",
    404: "No such model or adapter",
    408: "The request body did not arrive within --body-timeout",
    413: "The request body is larger than --max-body-bytes",
    415: "The body is not sent as `Content-Type: application/json`",
    409: "This server's adapters folder is read-only: the promotion record cannot be written there",
    421: "The Host header is not this server's address nor one of --allowed-hosts",
    429: "Too many requests in flight (--max-pending); retry after `Retry-After` seconds",
    500: "A bug of the server's",
    503: "The engine died and is being restarted (retry after `Retry-After` seconds), or a promotion record could "
    "not be written",
    504: "The generation took longer than --request-timeout",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with its meaning and the error schema."""
    return {status: {"model": ErrorResponse, "description": _MEANINGS[status]} for status in statuses}


GENERATION_ERRORS = error_responses(400, 401, 404, 408, 413, 415, 421, 429, 500, 503, 504)
READ_ERRORS = error_responses(401, 404, 421, 500)
ADMIN_ERRORS = error_responses(400, 401, 403, 404, 408, 413, 415, 421, 500)
PROMOTION_ERRORS = error_responses(400, 401, 403, 404, 408, 409, 413, 415, 421, 500, 503)


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
