"""A stand-in for Tencent's iLink bot API (we cannot run WeChat's servers), on free loopback ports.

It follows the protocol as docs/bridge.md ("The iLink protocol") describes it: the same paths, headers, bodies,
statuses and error codes; a request that breaks the protocol gets HTTP 400 and is kept in
`violations`, so a test fails when the bridge drifts from it. Tests drive it: the QR statuses each
offered code goes through, the messages `getupdates` delivers (the cursor is the count delivered, so a
client that forgets it gets them again), refused sends (`ret -2`), failing polls (HTTP 500) and a stale
token (`-14`). It listens on two ports, the second standing for the host of a login redirect and for
the account's own API base.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

STALE = {"ret": -14, "errcode": -14, "errmsg": "session timeout"}
BIG_ID = 7_300_000_000_000_000_000  # message ids are uint64, past what a double holds exactly


@dataclass
class Call:
    endpoint: str
    port: int
    body: dict[str, Any]
    query: dict[str, str]
    token: str | None
    at: float = field(default_factory=time.monotonic)


class ProtocolViolation(Exception):
    pass


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise ProtocolViolation(problem)


def _check_headers(request: Request, post: bool, authed: bool) -> str | None:
    headers = request.headers
    _require(headers.get("ilink-app-id") == "bot", "iLink-App-Id must be 'bot'")
    _require(headers.get("ilink-app-clientversion", "").isdigit(), "iLink-App-ClientVersion must be a decimal uint32")
    if not post:
        _require("authorization" not in headers, "the QR status poll carries no Authorization")
        return None
    _require(headers.get("content-type", "").startswith("application/json"), "Content-Type must be application/json")
    _require(headers.get("authorizationtype") == "ilink_bot_token", "AuthorizationType must be ilink_bot_token")
    try:
        uin = base64.b64decode(headers.get("x-wechat-uin", ""), validate=True).decode()
    except ValueError:
        uin = ""
    _require(uin.isdigit() and int(uin) < 2**32, "X-WECHAT-UIN must be base64 of a decimal uint32")
    auth = headers.get("authorization", "")
    if not authed:
        _require(not auth, "get_bot_qrcode carries no Authorization")
        return None
    _require(auth.startswith("Bearer ") and len(auth) > 7, "Authorization must be 'Bearer <bot_token>'")
    return auth.removeprefix("Bearer ")


class FakeIlink:
    def __init__(self, owner_id: str = "owner-7f3a@im.wechat", hold_s: float = 0.3) -> None:
        self.owner_id = owner_id
        self.bot_id = "a1b2c3d4@im.bot"
        self.hold_s = hold_s
        self.verify_code = "42"
        self.login_script: list[list[str]] = [["wait", "scaned", "confirmed"]]
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.valid_tokens: set[str] = set()
        self.refuse_sends = 0
        self.fail_updates = 0
        self.qr_keys: list[str] = []
        self._statuses: dict[str, list[str]] = {}
        self._tokens = itertools.count(1)
        self._ids = itertools.count(BIG_ID)
        self._changed = threading.Condition()
        self._sockets = [self._bind(), self._bind()]
        self.port, self.alt_port = (s.getsockname()[1] for s in self._sockets)
        self.account_base = self.alt_url  # the `baseurl` a confirmed login names
        self.redirect_host = f"127.0.0.1:{self.alt_port}"  # the `redirect_host` of `scaned_but_redirect`
        self.scanned_by: dict[str, str] = {}  # QR key -> the WeChat that confirms it (default: `owner_id`)
        self._server = uvicorn.Server(uvicorn.Config(self._app(), log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": self._sockets}, daemon=True)

    @staticmethod
    def _bind() -> socket.socket:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        return sock

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alt_url(self) -> str:
        return f"http://127.0.0.1:{self.alt_port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake iLink server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    # what tests drive
    def issue_token(self) -> str:
        token = f"tok-{next(self._tokens)}"
        self.valid_tokens.add(token)
        return token

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    def push(self, message: dict[str, Any]) -> dict[str, Any]:
        """Deliver a message with the next `getupdates` (pushing the same dict again re-delivers it)."""
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        return message

    def user_message(self, user: str, items: list[dict[str, Any]], context_token: str | None = None) -> dict[str, Any]:
        msg_id = next(self._ids)
        return {
            "seq": msg_id - BIG_ID + 1,
            "message_id": msg_id,
            "from_user_id": user,
            "to_user_id": self.bot_id,
            "create_time_ms": int(time.time() * 1000),
            "message_type": 1,
            "message_state": 2,
            "item_list": items,
            "context_token": context_token or f"ctx-{msg_id}",
        }

    def text(self, user: str, text: str, context_token: str | None = None) -> dict[str, Any]:
        return self.push(self.user_message(user, [{"type": 1, "text_item": {"text": text}}], context_token))

    def voice(self, user: str, transcript: str, context_token: str | None = None) -> dict[str, Any]:
        """A voice message: the SILK audio on the CDN, WeChat's speech-to-text in `voice_item.text` ("" when none)."""
        media = {"encrypt_query_param": "voice-param", "aes_key": "a2V5", "encrypt_type": 1}
        item = {
            "media": media,
            "encode_type": 6,
            "bits_per_sample": 16,
            "sample_rate": 16000,
            "playtime": 2100,
            "text": transcript,
        }
        return self.push(self.user_message(user, [{"type": 3, "voice_item": item}], context_token))

    def calls_to(self, endpoint: str) -> list[Call]:
        return [c for c in list(self.calls) if c.endpoint == endpoint]

    def sent(self, user: str | None = None) -> list[Call]:
        """Accepted sendmessage calls (to `user`)."""
        return [
            c
            for c in self.calls_to("sendmessage")
            if c.body.get("accepted") and (user is None or c.body["msg"]["to_user_id"] == user)
        ]

    def texts_to(self, user: str) -> list[str]:
        return [c.body["msg"]["item_list"][0]["text_item"]["text"] for c in self.sent(user)]

    def _wait_for_messages(self, start: int) -> list[dict[str, Any]]:
        """The long poll: answer as soon as something is past the cursor, or empty after `hold_s`."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.messages) > start, timeout=self.hold_s)
            return self.messages[start:]

    # the protocol
    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.exception_handler(ProtocolViolation)
        async def _violation(request: Request, exc: ProtocolViolation) -> JSONResponse:
            self.violations.append(f"{request.url.path}: {exc}")
            return JSONResponse({"detail": str(exc)}, status_code=400)

        async def call(request: Request, endpoint: str, post: bool = True, authed: bool = True) -> Call:
            token = _check_headers(request, post, authed)
            body = await request.json() if post else {}
            if post and authed:
                info = body.get("base_info")
                _require(
                    isinstance(info, dict) and isinstance(info.get("channel_version"), str),
                    "authenticated POST bodies carry base_info.channel_version",
                )
            record = Call(endpoint, request.url.port or 0, body, dict(request.query_params), token)
            self.calls.append(record)
            return record

        @app.post("/ilink/bot/get_bot_qrcode")
        async def get_bot_qrcode(request: Request) -> dict:
            record = await call(request, "get_bot_qrcode", authed=False)
            _require(record.query.get("bot_type") == "3", "bot_type must be 3")
            _require(isinstance(record.body.get("local_token_list"), list), "local_token_list must be a list")
            index = len(self.qr_keys)
            key = f"qr-{index}"
            self.qr_keys.append(key)
            self._statuses[key] = list(self.login_script[min(index, len(self.login_script) - 1)])
            return {"qrcode": key, "qrcode_img_content": f"https://liteapp.weixin.qq.com/q/{key}?bot_type=3"}

        @app.get("/ilink/bot/get_qrcode_status")
        async def get_qrcode_status(request: Request) -> dict:
            record = await call(request, "get_qrcode_status", post=False)
            key = record.query.get("qrcode", "")
            _require(bool(self.qr_keys) and key == self.qr_keys[-1], "poll the newest QR code")
            queue = self._statuses[key]
            status = queue[0]
            if status == "need_verifycode":
                if record.query.get("verify_code") != self.verify_code:
                    return {"status": "need_verifycode"}
                queue.pop(0)
                return {"status": "scaned"}
            if len(queue) > 1:
                queue.pop(0)
            if status == "scaned_but_redirect":
                return {"status": status, "redirect_host": self.redirect_host}
            if status == "confirmed":
                return {
                    "status": status,
                    "bot_token": self.issue_token(),
                    "ilink_bot_id": self.bot_id,
                    "baseurl": self.account_base,
                    "ilink_user_id": self.scanned_by.get(key, self.owner_id),
                }
            return {"status": status}

        @app.post("/ilink/bot/getupdates")
        async def getupdates(request: Request) -> Any:
            record = await call(request, "getupdates")
            if record.token not in self.valid_tokens:
                return STALE
            if self.fail_updates > 0:
                self.fail_updates -= 1
                return JSONResponse({"detail": "upstream unavailable"}, status_code=500)
            cursor = record.body.get("get_updates_buf")
            _require(
                isinstance(cursor, str) and (cursor == "" or cursor.startswith("cur-")),
                "get_updates_buf must be '' or a cursor this server gave",
            )
            start = int(cursor.removeprefix("cur-") or 0)
            delivered = await asyncio.to_thread(self._wait_for_messages, start)
            return {
                "ret": 0,
                "msgs": delivered,
                "get_updates_buf": f"cur-{start + len(delivered)}",
                "longpolling_timeout_ms": int(self.hold_s * 1000) + 1000,
            }

        @app.post("/ilink/bot/sendmessage")
        async def sendmessage(request: Request) -> dict:
            record = await call(request, "sendmessage")
            if record.token not in self.valid_tokens:
                return STALE
            msg = record.body.get("msg", {})
            _require(msg.get("from_user_id") == "" and bool(msg.get("to_user_id")), "from '' to the user's id")
            _require(
                bool(msg.get("client_id")) and msg.get("message_type") == 2 and msg.get("message_state") == 2,
                "a bot message (type 2, state FINISH) with a client_id",
            )
            items = msg.get("item_list") or []
            _require(
                len(items) == 1 and items[0].get("type") == 1 and items[0]["text_item"]["text"],
                "one non-empty text item per sendmessage",
            )
            if self.refuse_sends > 0:
                self.refuse_sends -= 1
                return {"ret": -2, "errmsg": "rate limited"}
            record.body["accepted"] = True
            return {"ret": 0, "errmsg": "", "message_id": next(self._ids)}

        @app.post("/ilink/bot/getconfig")
        async def getconfig(request: Request) -> dict:
            record = await call(request, "getconfig")
            if record.token not in self.valid_tokens:
                return STALE
            user = record.body.get("ilink_user_id", "")
            _require(bool(user), "getconfig names ilink_user_id")
            return {"ret": 0, "errmsg": "", "typing_ticket": base64.b64encode(f"ticket:{user}".encode()).decode()}

        @app.post("/ilink/bot/sendtyping")
        async def sendtyping(request: Request) -> dict:
            record = await call(request, "sendtyping")
            if record.token not in self.valid_tokens:
                return STALE
            user = record.body.get("ilink_user_id", "")
            expected = base64.b64encode(f"ticket:{user}".encode()).decode()
            _require(record.body.get("typing_ticket") == expected, "typing_ticket from getconfig for this user")
            _require(record.body.get("status") in (1, 2), "status 1 (typing) or 2 (cancel)")
            return {"ret": 0, "errmsg": ""}

        def notify(endpoint: str):
            async def route(request: Request) -> dict:
                await call(request, endpoint)
                return {"ret": 0, "errmsg": ""}

            return route

        for endpoint in ("notifystart", "notifystop"):
            app.add_api_route(f"/ilink/bot/msg/{endpoint}", notify(endpoint), methods=["POST"])

        return app
