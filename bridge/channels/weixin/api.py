"""Tencent's iLink bot API over httpx: the headers, the `base_info` body field and the `ret`/`errcode` rule.

One method per endpoint; each returns the response's JSON object or raises: `StaleToken` for `-14`
(the login is over, a new QR scan is needed), `Refused` for any other non-zero `ret`/`errcode`, and
httpx's own errors (and `Refused` for 5xx) for the network, which callers retry.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import httpx

APP_ID = "bot"
CLIENT_VERSION = "2.4.9"
BOT_TYPE = "3"
STALE_TOKEN = -14


def _version_number(version: str) -> str:
    major, minor, patch = (int(part) for part in version.split("."))
    return str((major << 16) | (minor << 8) | patch)


class IlinkError(RuntimeError):
    """The iLink API answered with an error code."""

    def __init__(self, endpoint: str, code: int, message: str) -> None:
        super().__init__(f"{endpoint}: error {code} {message!r}".rstrip())
        self.code = code


class StaleToken(IlinkError):
    """`-14`, "session timeout": the bot token is no longer valid."""


class Refused(IlinkError):
    """A non-zero `ret`/`errcode` other than -14 (e.g. `-2` on sendmessage), or an HTTP error status."""


class IlinkClient:
    def __init__(self, base_url: str, token: str = "", timeout_s: float = 15.0, proxy: str = "") -> None:
        """`proxy` is the only proxy used: `trust_env=False` ignores HTTP(S)_PROXY (and .netrc), so the bot
        token and friends' messages never go through a proxy the owner did not name for the bridge."""
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = httpx.Client(timeout=timeout_s, trust_env=False, proxy=proxy or None)
        self._static = {"iLink-App-Id": APP_ID, "iLink-App-ClientVersion": _version_number(CLIENT_VERSION)}

    def close(self) -> None:
        self._http.close()

    def _headers(self, authed: bool) -> dict[str, str]:
        uin = base64.b64encode(str(secrets.randbits(32)).encode()).decode()
        headers = {
            **self._static,
            "Content-Type": "application/json",
            "AuthorizationType": "ilink_bot_token",
            "X-WECHAT-UIN": uin,
        }
        if authed and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _check(self, endpoint: str, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 300:
            raise Refused(endpoint, response.status_code, f"HTTP {response.status_code}")
        data = response.json() if response.content else {}
        for field in ("ret", "errcode"):
            code = data.get(field)
            if code:
                error = StaleToken if code == STALE_TOKEN else Refused
                raise error(endpoint, int(code), str(data.get("errmsg", "")))
        return data

    def post(
        self, endpoint: str, body: dict[str, Any], timeout_s: float | None = None, base_url: str | None = None
    ) -> dict[str, Any]:
        authed = endpoint != "ilink/bot/get_bot_qrcode"
        payload = {**body, "base_info": {"channel_version": CLIENT_VERSION}} if authed else body
        url = f"{base_url or self.base_url}/{endpoint}"
        params = {"bot_type": BOT_TYPE} if not authed else None
        timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else timeout_s
        response = self._http.post(url, json=payload, headers=self._headers(authed), params=params, timeout=timeout)
        return self._check(endpoint, response)

    def qrcode_status(self, base_url: str, qrcode: str, verify_code: str | None, timeout_s: float) -> dict[str, Any]:
        """The long poll of the login: GET with only the app headers; a timeout counts as `wait`."""
        params = {"qrcode": qrcode, **({"verify_code": verify_code} if verify_code else {})}
        try:
            response = self._http.get(
                f"{base_url}/ilink/bot/get_qrcode_status", params=params, headers=self._static, timeout=timeout_s
            )
        except httpx.TimeoutException:
            return {"status": "wait"}
        if response.status_code >= 500:
            return {"status": "wait"}
        return self._check("ilink/bot/get_qrcode_status", response)

    def get_updates(self, cursor: str, timeout_s: float) -> dict[str, Any]:
        """One long poll; a client-side timeout is an empty answer with the cursor unchanged."""
        try:
            return self.post("ilink/bot/getupdates", {"get_updates_buf": cursor}, timeout_s=timeout_s)
        except httpx.TimeoutException:
            return {"ret": 0, "msgs": [], "get_updates_buf": ""}

    def send_text(self, to_user_id: str, text: str, context_token: str | None, client_id: str) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "from_user_id": "",
            "to_user_id": to_user_id,
            "client_id": client_id,
            "message_type": 2,
            "message_state": 2,
            "item_list": [{"type": 1, "text_item": {"text": text}}],
        }
        if context_token:
            msg["context_token"] = context_token
        return self.post("ilink/bot/sendmessage", {"msg": msg})

    def typing_ticket(self, user_id: str, context_token: str | None) -> str:
        body = {"ilink_user_id": user_id, **({"context_token": context_token} if context_token else {})}
        return str(self.post("ilink/bot/getconfig", body, timeout_s=10.0).get("typing_ticket", ""))

    def send_typing(self, user_id: str, ticket: str, active: bool) -> None:
        self.post(
            "ilink/bot/sendtyping",
            {"ilink_user_id": user_id, "typing_ticket": ticket, "status": 1 if active else 2},
            timeout_s=10.0,
        )
