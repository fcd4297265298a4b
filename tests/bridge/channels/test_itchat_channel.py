"""The itchat login files: readable by the owner only, from the first byte until after itchat's exit dump."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.support.server_process import free_port
from wechat_twin.bridge.channels.itchat_channel import LOGIN_FILE, QR_FILE, ItchatChannel
from wechat_twin.bridge.config import BridgeConfig
from wechat_twin.bridge.service import Bridge


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_itchat_login_and_qr_files_are_owner_only(tmp_path, monkeypatch):
    """itchat's own network is stubbed; its file writes are done the way itchat does them (plain `open`)."""
    import itchat

    seen: dict[str, int] = {}

    def auto_login(hotReload, statusStorageDir, enableCmdQR, picDir, exitCallback):  # itchat's keyword names
        with open(picDir, "wb") as handle:
            handle.write(b"\x89PNG\r\n")
        seen["qr while it is shown"] = _mode(Path(picDir))
        with open(statusStorageDir, "wb") as handle:
            handle.write(b"login")

    def run(blockThread):
        login = tmp_path / LOGIN_FILE  # itchat re-dumps the login when its loop ends: remove, then open()
        os.remove(login)
        with open(login, "wb") as handle:
            handle.write(b"login, dumped at exit")

    monkeypatch.setattr(itchat, "auto_login", auto_login)
    monkeypatch.setattr(itchat, "run", run)
    monkeypatch.setattr(itchat, "search_friends", lambda: {"UserName": "@self"})
    monkeypatch.setattr(itchat, "msg_register", lambda *args, **kwargs: lambda handler: handler)
    monkeypatch.setattr(itchat, "logout", lambda: None)
    previous = os.umask(0o022)
    try:
        ItchatChannel(tmp_path).run(inbox=None)
    finally:
        os.umask(previous)
    assert seen["qr while it is shown"] == 0o600
    assert _mode(tmp_path / QR_FILE) == 0o600
    assert _mode(tmp_path / LOGIN_FILE) == 0o600


def _itchat_media(kind: str, user: str = "@friend01") -> dict:
    """A media message as itchat hands it over: `Text` is a download function, there is no transcript."""
    return {
        "MsgId": f"{kind}-1",
        "FromUserName": user,
        "ToUserName": "@self",
        "Type": kind,
        "FileName": "a.mp3",
        "Text": lambda path=None: b"",
        "Content": "",
        "CreateTime": 1_700_000_000,
        "User": {"UserName": user, "NickName": "Mia", "RemarkName": "", "VerifyFlag": 0},
    }


def test_itchat_media_and_voice_are_recorded_as_skipped_not_answered(tmp_path, monkeypatch):
    """The web protocol gives a voice message no transcript (unlike iLink's `voice_item.text`): not answered."""
    import itchat

    handlers: dict[str, object] = {}

    def msg_register(types, isFriendChat=False, isGroupChat=False, isMpChat=False):  # itchat's keyword names
        def register(handler):
            if isFriendChat:
                handlers.update(dict.fromkeys(types if isinstance(types, list) else [types], handler))
            return handler

        return register

    def run(blockThread):  # itchat's loop: hands each message to the handler registered for its type
        for kind in ("Recording", "Picture", "Attachment", "Video"):
            handlers[kind](_itchat_media(kind))

    monkeypatch.setattr(itchat, "auto_login", lambda **kwargs: None)
    monkeypatch.setattr(itchat, "run", run)
    monkeypatch.setattr(itchat, "search_friends", lambda: {"UserName": "@self"})
    monkeypatch.setattr(itchat, "msg_register", msg_register)
    monkeypatch.setattr(itchat, "logout", lambda: None)
    channel = ItchatChannel(tmp_path)
    bridge = Bridge(BridgeConfig(api_base=f"http://127.0.0.1:{free_port()}/v1", data_dir=tmp_path), channel)
    try:
        channel.run(inbox=bridge)
        assert bridge.store.skipped_counts() == {"file": 1, "image": 1, "video": 1, "voice": 1}
        assert bridge.store.inbox_rows() == [], "nothing to answer"
    finally:
        bridge.close()
