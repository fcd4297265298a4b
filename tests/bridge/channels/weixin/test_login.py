"""The iLink QR login against the fake: every status, the refresh budget, the redirect, and owner-only files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.bridge.channels.weixin.conftest import FAST
from wechat_twin.bridge.channels.weixin.api import IlinkClient
from wechat_twin.bridge.channels.weixin.login import (
    CREDENTIALS_FILE,
    QR_FILE,
    Credentials,
    LoginFailed,
    QrLogin,
    load_credentials,
)
from wechat_twin.bridge.config import WeixinConfig
from wechat_twin.bridge.texts import Language, Texts


def _login(fake, tmp_path: Path, said: list[str], codes=(), language=Language.en, **settings) -> QrLogin:
    config = WeixinConfig(base_url=fake.base_url, **{**FAST, **settings})
    answers = list(codes)
    return QrLogin(IlinkClient(fake.base_url), fake.base_url, config, tmp_path, said.append, lambda: answers.pop(0),
                   sleep=lambda _: None, texts=Texts(language))  # fmt: skip


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_expired_code_is_refreshed_then_redirected_verified_and_confirmed(fake_ilink, tmp_path):
    fake_ilink.login_script = [["wait", "expired"],
                               ["scaned", "scaned_but_redirect", "need_verifycode", "scaned", "confirmed"]]  # fmt: skip
    said: list[str] = []
    credentials = _login(fake_ilink, tmp_path, said, codes=["17", "42"]).run(None)

    assert fake_ilink.qr_keys == ["qr-0", "qr-1"]
    polls = fake_ilink.calls_to("get_qrcode_status")
    assert [c.query["qrcode"] for c in polls][:2] == ["qr-0", "qr-0"] and polls[-1].query["qrcode"] == "qr-1"
    redirect = next(i for i, c in enumerate(polls) if c.query["qrcode"] == "qr-1") + 2
    assert {c.port for c in polls[:redirect]} == {fake_ilink.port}
    assert {c.port for c in polls[redirect:]} == {fake_ilink.alt_port}, "after the redirect, polls go to its host"
    assert [c.query.get("verify_code") for c in polls[redirect:]] == [None, "17", "42", None, None]
    assert any("wrong" in line for line in said), "a wrong code is reported"
    assert any("https://liteapp.weixin.qq.com/q/qr-1" in line for line in said), "the raw link is shown too"
    assert any("█" in line or "▀" in line for line in said), "the QR code is drawn in the terminal"

    assert credentials.bot_token in fake_ilink.valid_tokens
    assert credentials == Credentials(bot_token=credentials.bot_token, bot_id=fake_ilink.bot_id,
                                      base_url=fake_ilink.account_base, user_id=fake_ilink.owner_id)  # fmt: skip
    assert load_credentials(tmp_path) == credentials, "kept for the next start"
    assert _mode(tmp_path / CREDENTIALS_FILE) == 0o600
    assert (tmp_path / QR_FILE).read_bytes().startswith(b"\x89PNG") and _mode(tmp_path / QR_FILE) == 0o600


def test_login_gives_up_after_its_qr_codes_are_spent(fake_ilink, tmp_path):
    fake_ilink.login_script = [["verify_code_blocked"], ["expired"]]
    said: list[str] = []
    with pytest.raises(LoginFailed, match="3 offered"):
        _login(fake_ilink, tmp_path, said, qr_codes=3).run(None)
    assert fake_ilink.qr_keys == ["qr-0", "qr-1", "qr-2"]
    assert "too many wrong codes" in said
    assert not (tmp_path / CREDENTIALS_FILE).exists()


def test_login_stops_at_its_deadline(fake_ilink, tmp_path):
    fake_ilink.login_script = [["wait"]]
    with pytest.raises(LoginFailed, match="within 0 s"):
        _login(fake_ilink, tmp_path, [], login_deadline_s=0).run(None)


def test_an_already_bound_bot_keeps_its_login(fake_ilink, tmp_path):
    fake_ilink.login_script = [["binded_redirect"]]
    known = Credentials(bot_token="tok-kept", bot_id=fake_ilink.bot_id, base_url=fake_ilink.alt_url)
    assert _login(fake_ilink, tmp_path, []).run(known) == known
    assert fake_ilink.calls_to("get_bot_qrcode")[0].body == {"local_token_list": ["tok-kept"]}
    with pytest.raises(LoginFailed, match="bound to another client"):
        _login(fake_ilink, tmp_path, []).run(None)
