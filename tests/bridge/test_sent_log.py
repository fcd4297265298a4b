"""`twin-bridge log`: what went out in the owner's name, marked as the clone's, approved by the owner, or theirs.

The messages are sent by the real bridge (itchat's message dicts in, the real API server over the small
fake engine), then listed by the real command from the real SQLite file.
"""

from __future__ import annotations

import os
import stat

from typer.testing import CliRunner

from tests.bridge.conftest import friend_message, owner_message
from wechat_twin.bridge.cli import app

DRAFT = "Hello there! How are you?"  # what the fake engine writes


def _log(*args: str) -> list[list[str]]:
    result = CliRunner().invoke(app, ["log", *args])
    assert result.exit_code == 0, result.output
    return [line.split("\t") for line in result.output.splitlines()]


def test_the_log_lists_the_clones_the_approved_and_the_owners_messages(quick_bridge, tmp_path):
    h = quick_bridge()
    h.receive(friend_message("晚饭吃什么", remark="Mia"))
    h.bridge.process_pending()  # the clone's own
    h.receive(friend_message("能借我2000块吗", remark="Mia"))
    h.bridge.process_pending()
    h.receive(owner_message("/send"))  # a draft the owner let out
    h.receive(friend_message("验证码多少", user="@bob02", remark="Bob"))
    h.bridge.process_pending()
    h.receive(owner_message("/say 不给"))  # the owner's words
    h.bridge.close()
    db = str(h.config.database)

    rows = _log("--db", db)
    assert [(contact, who, text) for _, contact, who, text in rows] == [
        ("Mia", "分身", DRAFT),
        ("Mia", "主人批准", DRAFT),
        ("Bob", "主人", "不给"),
    ]
    assert [r[2] for r in _log("--db", db, "--contact", "Bob", "--language", "en")] == ["owner"]
    assert _log("--db", db, "--contact", "@friend01")[1][2] == "主人批准"
    assert _log("--db", db, "--since", "2999-01-01") == []

    out = tmp_path / "sent.tsv"
    _log("--db", db, "--out", str(out))
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert out.read_text(encoding="utf-8").count("\n") == 3


def test_a_bad_date_is_one_error_line(tmp_path, quick_bridge):
    h = quick_bridge()
    h.bridge.close()
    result = CliRunner().invoke(app, ["log", "--db", str(h.config.database), "--since", "yesterday"])
    assert result.exit_code != 0 and "--since" in result.output
