"""What every request passes before any route runs and before its body is read.

- The `Host` header must name this server (its bound address, `localhost` on loopback, `--allowed-hosts`):
  a web page that rebinds its own domain to 127.0.0.1 sends its domain as Host and is refused (421).
- A keyless server trusts only direct loopback clients: a request that carries `Forwarded`/`X-Forwarded-*`
  came through a proxy or tunnel, which would make any outside client look local, so it needs a key (401).
- The key is checked here, from the headers alone: a client without one cannot make the server hold a
  body (401 before reading a byte of it). Routes then check what the key may do.
- A POST's body must be `application/json` (415): a web page can send a cross-origin POST without asking
  first only as a form or `text/plain`. A POST without a body goes on (a route it does not exist for says 405).
- The body must arrive within `--body-timeout` (408), so slow senders cannot hold memory and connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wechat_twin.network import is_loopback
from wechat_twin.server.auth import KeyKind, identify
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.errors import OpenAIError, send_error

# Open to anyone who can connect: probes, and the page (static, no data: it asks for a key).
ALWAYS_OPEN = ("/health", "/health/live", "/", "/chat", "/chat/blind")
OPEN_PREFIXES = ("/chat/static/",)
# Open on loopback; on a public bind they need a key (metrics name every clone: not for chat keys), unless
# --metrics-without-key opens /metrics to scrapers.
LOCAL_OPEN = ("/metrics", "/openapi.json")
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip")
WILDCARD_BINDS = ("0.0.0.0", "::", "")


def host_name(host_header: str) -> str:
    """`example.com:8000` -> `example.com`, `[::1]:8000` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def host_allowed(settings: ServerSettings, host_header: str | None) -> bool:
    if host_header is None:  # HTTP/1.0 without Host: no browser sends that
        return True
    name = host_name(host_header)
    for entry in settings.allowed_hosts:
        entry = entry.strip().lower().rstrip(".")
        if entry == "*" or name == entry or (entry.startswith(".") and (name.endswith(entry) or name == entry[1:])):
            return True
    bound = settings.host.strip().lower()
    wildcard = bound in WILDCARD_BINDS
    if name == "localhost":
        return wildcard or is_loopback(bound)
    address = _ip(name)
    if address is not None:
        # A page can rebind a name, never an address: any address of this machine is safe to accept.
        bound_address = _ip(bound)
        return wildcard or address == bound_address or (address.is_loopback and is_loopback(bound))
    return name == bound


def _proxied(headers: Headers) -> str | None:
    return next((name for name in PROXY_HEADERS if name in headers), None)


def _direct_client_is_remote(scope: Scope) -> bool:
    client = scope.get("client")
    address = _ip(client[0]) if client else None
    return address is not None and not address.is_loopback


class Gate:
    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings

    def _refusal(self, scope: Scope, headers: Headers) -> OpenAIError | None:
        settings = self.settings
        path = scope["path"]
        if not host_allowed(settings, headers.get("host")):
            return OpenAIError(
                421,
                f"this server is not reached as {headers.get('host')!r}: use its address, or "
                "start it with --allowed-hosts NAME",
                code="host_not_allowed",
            )
        if path in ALWAYS_OPEN or path.startswith(OPEN_PREFIXES):
            return None
        if path == "/metrics" and settings.metrics_without_key:
            return None
        if settings.keyless:
            proxy_header = _proxied(headers)
            if proxy_header is not None or _direct_client_is_remote(scope):
                why = f"carries {proxy_header}" if proxy_header else "comes from another machine"
                return OpenAIError(
                    401,
                    f"this request {why}: a server without keys answers only direct clients "
                    "on this machine; start it with --key-file",
                    code="invalid_api_key",
                )
        elif path not in LOCAL_OPEN or settings.public:
            who = identify(settings, headers)
            if who is None:
                return OpenAIError(
                    401, "missing or invalid API key: send `Authorization: Bearer <key>`", code="invalid_api_key"
                )
            if path == "/metrics" and who.kind is KeyKind.CHAT:
                return OpenAIError(403, "metrics need an API or admin key", code="chat_only_key")
        carries_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        if scope["method"] == "POST" and carries_body:
            media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
            if media_type != "application/json":
                return OpenAIError(
                    415,
                    "send the body as JSON with `Content-Type: application/json`",
                    param="Content-Type",
                    code="unsupported_media_type",
                )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope, Headers(scope=scope))
        if refusal is not None:
            # The body stays unread: close the connection rather than read it to keep the connection alive.
            await send_error(send, refusal, close=True)
            return
        await self._with_body_deadline(scope, receive, send)

    async def _with_body_deadline(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.body_timeout_s
        body_done = False
        timed_out = False
        started = False

        async def receive_by_deadline() -> Message:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.001))
            except TimeoutError:
                timed_out = True
                raise _BodyTimeout from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:  # the app's own answer to the exception it got: 408 is sent instead
                return
            started = True
            await send(message)

        with contextlib.suppress(_BodyTimeout):
            await self.app(scope, receive_by_deadline, guarded_send)
        if timed_out and not started:
            timeout = self.settings.body_timeout_s
            await send_error(
                send,
                OpenAIError(408, f"the request body did not arrive within {timeout:g} s", code="body_timeout"),
                close=True,
            )


class _BodyTimeout(Exception):
    pass
