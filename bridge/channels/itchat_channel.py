"""WeChat through itchat-uos (the web protocol).

Warning, also in the docs: WeChat flags and bans accounts that use the web protocol (reports
run up to 2025). Use a secondary account. This module is the only place that knows itchat.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wechat_twin.bridge.channels.base import OWNER_REVIEW_CHAT, Channel, Inbox, IncomingMessage
from wechat_twin.bridge.texts import Texts

LOGIN_FILE = "itchat.pkl"
QR_FILE = "login-qr.png"


def from_itchat(msg: dict[str, Any], self_id: str, is_group: bool) -> IncomingMessage:
    """Turn itchat's message dict (text messages) into the bridge's message."""
    from_self = msg.get("FromUserName") == self_id
    chat_id = msg.get("ToUserName", "") if from_self else msg.get("FromUserName", "")
    user = msg.get("User") or {}
    text = msg.get("Text") if isinstance(msg.get("Text"), str) else msg.get("Content", "")
    return IncomingMessage(
        message_id=str(msg.get("MsgId") or msg.get("NewMsgId") or f"{chat_id}:{msg.get('CreateTime')}:{text}"),
        chat_id=chat_id,
        chat_name=user.get("RemarkName") or user.get("NickName") or chat_id,
        text=text or "",
        time=float(msg.get("CreateTime") or time.time()),
        from_self=from_self,
        is_group=is_group,
        mentioned=bool(msg.get("IsAt")),
        is_official=bool(user.get("VerifyFlag", 0) & 8) or chat_id.startswith("gh_"),
        sender_name=msg.get("ActualNickName", "") if is_group else user.get("NickName", ""),
        remark=user.get("RemarkName", ""),
    )


class ItchatChannel(Channel):
    def __init__(self, state_dir: Path, texts: Texts | None = None) -> None:
        import itchat

        self.texts = texts or Texts()
        self.itchat = itchat
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    @contextmanager
    def _owner_only_files() -> Iterator[None]:
        """itchat writes its login (`itchat.pkl`, re-dumped at exit) and the QR image with plain `open()`:
        under this umask every file it creates is readable by the owner only, from the first byte."""
        previous = os.umask(0o077)
        try:
            yield
        finally:
            os.umask(previous)

    def _login(self) -> None:
        login_file = self.state_dir / LOGIN_FILE
        qr_file = self.state_dir / QR_FILE
        self.itchat.auto_login(
            hotReload=True,
            statusStorageDir=str(login_file),
            enableCmdQR=2,
            picDir=str(qr_file),
            exitCallback=lambda: print(self.texts("itchat_logged_out")),
        )
        for path in (login_file, qr_file):
            if path.exists():
                os.chmod(path, 0o600)

    def send(self, chat_id: str, text: str) -> None:
        result = self.itchat.send(text, toUserName=chat_id)
        if not result:
            raise RuntimeError(f"WeChat refused the message to {chat_id}: {result}")

    def run(self, inbox: Inbox) -> None:
        with self._owner_only_files():
            self._serve(inbox)

    def _serve(self, inbox: Inbox) -> None:
        from itchat.content import TEXT

        self._login()
        self_id = self.itchat.search_friends()["UserName"]

        @self.itchat.msg_register(TEXT, isFriendChat=True, isMpChat=True)
        def _friend(msg: dict[str, Any]) -> None:
            inbox.receive([from_itchat(msg, self_id, is_group=False)])

        @self.itchat.msg_register(TEXT, isGroupChat=True)
        def _group(msg: dict[str, Any]) -> None:
            inbox.receive([from_itchat(msg, self_id, is_group=True)])

        try:
            self.itchat.run(blockThread=True)
        except KeyboardInterrupt:
            pass
        finally:
            self.itchat.logout()


__all__ = ["OWNER_REVIEW_CHAT", "ItchatChannel", "from_itchat"]
