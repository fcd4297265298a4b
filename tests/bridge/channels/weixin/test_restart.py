"""`twin-bridge run --channel weixin` as a user runs it: killed between receiving and answering, then restarted."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.bridge.channels.weixin.conftest import FRIEND, wait_for
from tests.support.server_process import free_port

SETTINGS = """
max_tokens = 12
temperature = 0.0
retries = 0
[weixin]
allow_loopback = true
qr_poll_s = 0.05
retry_s = 0.1
pause_s = 0.5
"""


def _bridge(fake, data_dir: Path, api_base: str, api_key: str) -> subprocess.Popen:
    (data_dir / "bridge.toml").write_text(SETTINGS)
    log = (data_dir / "bridge.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wechat_twin.bridge.cli",
            "run",
            "--channel",
            "weixin",
            "--ilink-base",
            fake.base_url,
            "--api-base",
            api_base,
            "--model",
            "alice",
            "--data-dir",
            str(data_dir),
            "--config",
            str(data_dir / "bridge.toml"),
            "--no-typing-delay",
            "--poll-seconds",
            "0.1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**__import__("os").environ, "TWIN_API_KEY": api_key},
    )


def _rows(db: Path) -> list[tuple]:
    """Empty until the bridge has made its tables: the file appears a moment before them."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inbox'").fetchone():
            return []
        return conn.execute("SELECT message_id, status FROM inbox ORDER BY id").fetchall()


def test_killed_before_answering_then_restarted_answers_once(fake_ilink, twin_server, tmp_path):
    db = tmp_path / "feedback.db"
    first = _bridge(fake_ilink, tmp_path, f"http://127.0.0.1:{free_port()}/v1", twin_server.api_key)  # API down
    try:
        message = fake_ilink.text(FRIEND, "are we still on for friday?", context_token="ctx-fri")
        wait_for(
            lambda: _rows(db) == [(str(message["message_id"]), "pending")],
            timeout_s=60,
            what="the message queued by the first run",
        )
        assert first.poll() is None, "an unreachable API does not end the bridge"
    finally:
        first.kill()  # SIGKILL: no clean shutdown
        first.wait()
    assert fake_ilink.sent(FRIEND) == []
    calls_before = len(fake_ilink.calls)

    second = _bridge(fake_ilink, tmp_path, twin_server.base_url, twin_server.api_key)
    try:
        wait_for(lambda: _rows(db) == [(str(message["message_id"]), "answered")], timeout_s=90, what="the answer")
        after = fake_ilink.calls[calls_before:]
        polls = [c for c in after if c.endpoint == "getupdates"]
        assert polls[0].body["get_updates_buf"] == "cur-1", "the restart resumes from the stored cursor"
        assert not [c for c in after if c.endpoint == "get_bot_qrcode"], "the kept login is reused, no new scan"
        wait_for(lambda: len(fake_ilink.calls_to("getupdates")) >= len(polls) + 3, what="a few more polls")
        with sqlite3.connect(db) as conn:
            reply = conn.execute("SELECT reply FROM exchanges").fetchall()
        assert len(reply) == 1
        lines = [line.strip() for line in reply[0][0].split("\n") if line.strip()]
        assert fake_ilink.texts_to(FRIEND) == lines, "answered once, nothing repeated"
        assert {c.body["msg"]["context_token"] for c in fake_ilink.sent(FRIEND)} == {"ctx-fri"}
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=30) == 0, (tmp_path / "bridge.log").read_text()
    assert fake_ilink.calls[-1].endpoint == "notifystop"
    assert json.loads((tmp_path / "weixin-login.json").read_text())["bot_token"] == "tok-1"
