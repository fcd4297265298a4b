"""WeChat through itchat-uos (the web protocol).

Warning, also in the docs: WeChat flags and bans accounts that use the web protocol (reports
run up to 2025). Use a secondary account. This module is the only place that knows itchat.

Who a message is from is told only by what a friend cannot set: the remark name the owner gave a
contact (or a group), else the login's own id for them (`UserName`, `@…`, new at each login). A
nickname, a group nickname or a group's name is the friend's to choose; matching on it let anyone
rename themselves "妈妈" and get mum's memory and her place on the allow list (issue 27).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wechat_twin import output
from wechat_twin.bridge.channels.base import OWNER_REVIEW_CHAT, Channel, Inbox, IncomingMessage
from wechat_twin.bridge.texts import Texts
from wechat_twin.private_files import FILE_MODE, make_dirs, owner_only_umask

LOGIN_FILE = "itchat.pkl"
QR_FILE = "login-qr.png"
# itchat's message types that carry no text: taken in as that kind, recorded and counted, not answered. The web
# protocol gives a voice message no transcript (its `Text` downloads the audio), unlike WeChat's bot API.
MEDIA_KINDS = {"Picture": "image", "Recording": "voice", "Attachment": "file", "Video": "video"}


def _no_remark(user_name: str) -> str:
    return ""


def from_itchat(
    msg: dict[str, Any], self_id: str, is_group: bool, remark_of: Callable[[str], str] = _no_remark
) -> IncomingMessage:
    """Turn itchat's message dict (text messages) into the bridge's message. `remark_of` gives the
    owner's remark for a friend's `UserName` ("" for none): a group member's own name is not used."""
    from_self = msg.get("FromUserName") == self_id
    chat_id = msg.get("ToUserName", "") if from_self else msg.get("FromUserName", "")
    user = msg.get("User") or {}
    remark = user.get("RemarkName", "")
    kind = MEDIA_KINDS.get(msg.get("Type", ""), "text")
    text = "" if kind != "text" else msg.get("Text") if isinstance(msg.get("Text"), str) else msg.get("Content", "")
    sender_id = msg.get("ActualUserName", "") if is_group else chat_id
    return IncomingMessage(
        message_id=str(msg.get("MsgId") or msg.get("NewMsgId") or f"{chat_id}:{msg.get('CreateTime')}:{text}"),
        chat_id=chat_id,
        chat_name=remark or chat_id,
        text=text or "",
        time=float(msg.get("CreateTime") or time.time()),
        from_self=from_self,
        is_group=is_group,
        mentioned=bool(msg.get("IsAt")),
        is_official=bool(user.get("VerifyFlag", 0) & 8) or chat_id.startswith("gh_"),
        sender_name=(remark_of(sender_id) if is_group else remark) or sender_id,
        remark=remark,
        kind=kind,
    )


class ItchatChannel(Channel):
    def __init__(self, state_dir: Path, texts: Texts | None = None) -> None:
        import itchat

        self.texts = texts or Texts()
        self.itchat = itchat
        self.state_dir = state_dir
        make_dirs(self.state_dir)

    def _login(self) -> None:
        login_file = self.state_dir / LOGIN_FILE
        qr_file = self.state_dir / QR_FILE
        self.itchat.auto_login(
            hotReload=True,
            statusStorageDir=str(login_file),
            enableCmdQR=2,
            picDir=str(qr_file),
            exitCallback=lambda: output.say(self.texts("itchat_logged_out")),
        )
        for path in (login_file, qr_file):
            if path.exists():
                os.chmod(path, FILE_MODE)

    def send(self, chat_id: str, text: str) -> None:
        result = self.itchat.send(text, toUserName=chat_id)
        if not result:
            raise RuntimeError(f"WeChat refused the message to {chat_id}: {result}")

    def _remark_of(self, user_name: str) -> str:
        """The owner's remark for a group member who is also a friend; "" for anyone else."""
        friend = self.itchat.search_friends(userName=user_name) if user_name else None
        return (friend or {}).get("RemarkName", "")

    def run(self, inbox: Inbox) -> None:
        with owner_only_umask():  # itchat writes its login (re-dumped at exit) and QR image with plain open()
            self._serve(inbox)

    def _serve(self, inbox: Inbox) -> None:
        from itchat.content import ATTACHMENT, PICTURE, RECORDING, TEXT, VIDEO

        self._login()
        self_id = self.itchat.search_friends()["UserName"]

        @self.itchat.msg_register([TEXT, PICTURE, RECORDING, ATTACHMENT, VIDEO], isFriendChat=True, isMpChat=True)
        def _friend(msg: dict[str, Any]) -> None:
            inbox.receive([from_itchat(msg, self_id, is_group=False)])

        @self.itchat.msg_register([TEXT, PICTURE, RECORDING, ATTACHMENT, VIDEO], isGroupChat=True)
        def _group(msg: dict[str, Any]) -> None:
            inbox.receive([from_itchat(msg, self_id, is_group=True, remark_of=self._remark_of)])

        try:
            self.itchat.run(blockThread=True)
        except KeyboardInterrupt:
            pass
        finally:
            self.itchat.logout()


__all__ = ["OWNER_REVIEW_CHAT", "ItchatChannel", "from_itchat"]
