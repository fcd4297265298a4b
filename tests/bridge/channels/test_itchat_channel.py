"""The itchat login files: readable by the owner only, from the first byte until after itchat's exit dump."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from wechat_twin.bridge.channels.itchat_channel import LOGIN_FILE, QR_FILE, ItchatChannel


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
