"""Binding the bot to the owner's WeChat: the QR login of iLink, and the owner-only file that keeps it.

The QR code shows in the terminal and as a PNG (mode 0600) in the data folder; its status is polled
through every state iLink has (scanned, a verify code, expired and refreshed, redirected to another
host, already bound, confirmed). The confirmed token and the account's API base are written, owner-only,
to `weixin-login.json` and reused by the next start until iLink says `-14`.

Redirects and the account's API base are followed only where `hosts.checked_base` allows. Once an owner is
known, a QR code confirmed by any other WeChat is refused and reported: a re-login after `-14` would
otherwise make whoever scanned the newest code the owner, with the owner's commands (issue 27).
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import qrcode
from pydantic import BaseModel

from wechat_twin.bridge.channels.weixin.api import IlinkClient
from wechat_twin.bridge.channels.weixin.hosts import checked_base, redirect_base
from wechat_twin.bridge.config import WeixinConfig
from wechat_twin.bridge.texts import Texts
from wechat_twin.errors import TwinError
from wechat_twin.private_files import write_private

logger = logging.getLogger("wechat_twin.bridge.weixin")

CREDENTIALS_FILE = "weixin-login.json"
QR_FILE = "weixin-qr.png"


class LoginFailed(TwinError):
    """No QR code was confirmed in time or within the refresh budget."""


class Credentials(BaseModel):
    bot_token: str
    bot_id: str
    base_url: str
    user_id: str = ""  # the WeChat user who scanned: the owner


def load_credentials(data_dir: Path) -> Credentials | None:
    path = data_dir / CREDENTIALS_FILE
    if not path.is_file():
        return None
    try:
        return Credentials.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TwinError(f"{path}: not a weixin login ({exc.__class__.__name__}); delete it to log in again") from None


def save_credentials(data_dir: Path, credentials: Credentials) -> None:
    write_private(data_dir / CREDENTIALS_FILE, json.dumps(credentials.model_dump(), indent=2).encode())


def show_qr(content: str, png: Path, say: Callable[[str], None], texts: Texts) -> None:
    """The QR code in the terminal, as an owner-only PNG, and as the raw link for terminals that cannot draw it."""
    code = qrcode.QRCode(border=1)
    code.add_data(content)
    text = io.StringIO()
    code.print_ascii(out=text)
    image = io.BytesIO()
    code.make_image().save(image, format="PNG")
    write_private(png, image.getvalue())
    say(texts("scan_qr", drawing=text.getvalue(), png=png, link=content))


class QrLogin:
    """One login: QR codes offered until one is confirmed, the budget or the deadline runs out."""

    def __init__(
        self,
        client: IlinkClient,
        login_base: str,
        settings: WeixinConfig,
        data_dir: Path,
        say: Callable[[str], None],
        ask_code: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        texts: Texts | None = None,
    ) -> None:
        self.client = client
        self.login_base = login_base.rstrip("/")
        self.settings = settings
        self.data_dir = data_dir
        self.say = say
        self.ask_code = ask_code
        self.clock = clock
        self.sleep = sleep
        self.texts = texts or Texts()

    def run(self, known: Credentials | None, owner: str = "") -> Credentials:
        """A confirmed login. `owner` (a `…@im.wechat` id), when known, is the only WeChat whose confirmation
        is taken: another account's spends that QR code, is reported, and the next code is offered."""
        deadline = self.clock() + self.settings.login_deadline_s
        for offered in range(1, self.settings.qr_codes + 1):
            qr = self.client.post(
                "ilink/bot/get_bot_qrcode",
                {"local_token_list": [known.bot_token] if known else []},
                base_url=self.login_base,
            )
            show_qr(qr["qrcode_img_content"], self.data_dir / QR_FILE, self.say, self.texts)
            result = self._poll(qr["qrcode"], deadline, known, owner)
            if result is not None:
                return result
            if offered < self.settings.qr_codes:
                self.say(self.texts("qr_expired", number=offered + 1, total=self.settings.qr_codes))
        raise LoginFailed(self.texts("no_qr_confirmed", total=self.settings.qr_codes))

    def _poll(self, key: str, deadline: float, known: Credentials | None, owner: str) -> Credentials | None:
        """The confirmed login, or None when this QR code is spent (expired, too many wrong codes, not the owner)."""
        base, verify_code, last = self.login_base, None, ""
        while True:
            if self.clock() > deadline:
                raise LoginFailed(self.texts("login_deadline", seconds=f"{self.settings.login_deadline_s:.0f}"))
            answer = self.client.qrcode_status(base, key, verify_code, self.settings.poll_timeout_s)
            status, previous = answer.get("status", "wait"), last
            last = status
            if status == "confirmed":
                return self._confirmed(answer, owner)
            if status in ("expired", "verify_code_blocked"):
                if status == "verify_code_blocked":
                    self.say(self.texts("codes_blocked"))
                return None
            if status == "binded_redirect":
                if known is None:
                    raise LoginFailed(self.texts("bound_elsewhere"))
                self.say(self.texts("already_bound"))
                return known
            if status == "scaned_but_redirect":
                base = redirect_base(str(answer.get("redirect_host", "")), self.login_base, self.settings)
                continue
            if status == "need_verifycode":
                if verify_code is not None:
                    self.say(self.texts("code_wrong"))
                verify_code = self.ask_code()
                continue
            if status == "scaned":
                if previous != "scaned":
                    self.say(self.texts("scanned"))
                verify_code = None
            self.sleep(self.settings.qr_poll_s)

    def _confirmed(self, answer: dict, owner: str) -> Credentials | None:
        if not answer.get("bot_token") or not answer.get("ilink_bot_id"):
            raise LoginFailed(self.texts("no_bot_token"))
        scanner = str(answer.get("ilink_user_id") or "")
        if owner and scanner != owner:
            refused = self.texts("not_owner", scanner=scanner or self.texts("unnamed_scanner"), owner=owner)
            logger.warning("weixin login %s", refused)
            self.say(refused)
            return None
        given = answer.get("baseurl")
        base_url = checked_base(given, self.settings, "the account's API base") if given else self.login_base
        credentials = Credentials(
            bot_token=answer["bot_token"], bot_id=answer["ilink_bot_id"], base_url=base_url, user_id=scanner
        )
        save_credentials(self.data_dir, credentials)
        self.say(self.texts("logged_in", bot=credentials.bot_id))
        return credentials
