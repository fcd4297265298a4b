"""The iLink QR login against the fake: every status, the refresh budget, the redirect, and owner-only files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.bridge.channels.weixin.conftest import FAST
from wechat_twin.bridge.channels.weixin.api import IlinkClient
from wechat_twin.bridge.channels.weixin.hosts import HostRefused, redirect_base
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
    return QrLogin(
        IlinkClient(fake.base_url),
        fake.base_url,
        config,
        tmp_path,
        said.append,
        lambda: answers.pop(0),
        sleep=lambda _: None,
        texts=Texts(language),
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_expired_code_is_refreshed_then_redirected_verified_and_confirmed(fake_ilink, tmp_path):
    fake_ilink.login_script = [
        ["wait", "expired"],
        ["scaned", "scaned_but_redirect", "need_verifycode", "scaned", "confirmed"],
    ]
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
    assert credentials == Credentials(
        bot_token=credentials.bot_token,
        bot_id=fake_ilink.bot_id,
        base_url=fake_ilink.account_base,
        user_id=fake_ilink.owner_id,
    )
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


@pytest.mark.parametrize(
    "redirect_host",
    ["evil.example.com", "weixin.qq.com.evil.com", "evil.com/x@sz.weixin.qq.com", "sz.weixin.qq.com@evil.com"],
)
def test_a_login_redirect_off_the_api_domain_is_refused(fake_ilink, tmp_path, redirect_host):
    fake_ilink.login_script = [["scaned_but_redirect", "confirmed"]]
    fake_ilink.redirect_host = redirect_host
    with pytest.raises(HostRefused, match="refused"):
        _login(fake_ilink, tmp_path, []).run(None)
    assert {c.port for c in fake_ilink.calls} == {fake_ilink.port}, "no request left for another host"
    assert not (tmp_path / CREDENTIALS_FILE).exists()


def test_a_loopback_redirect_needs_the_explicit_setting(fake_ilink, tmp_path):
    fake_ilink.login_script = [["scaned_but_redirect", "confirmed"]]
    with pytest.raises(HostRefused, match=r"127\.0\.0\.1.*not under weixin\.qq\.com"):
        _login(fake_ilink, tmp_path, [], allow_loopback=False).run(None)
    assert {c.port for c in fake_ilink.calls} == {fake_ilink.port}


@pytest.mark.parametrize(
    "baseurl",
    [
        "http://ilinkai.weixin.qq.com",
        "https://evil.example.com",
        "https://weixin.qq.com.evil.com",
        "https://ilinkai.weixin.qq.com@evil.com",
        "https://evil.com\\@ilinkai.weixin.qq.com",
        "ftp://ilinkai.weixin.qq.com",
    ],
)
def test_an_account_base_off_the_api_domain_is_refused_and_not_kept(fake_ilink, tmp_path, baseurl):
    fake_ilink.account_base = baseurl
    with pytest.raises(HostRefused, match="refused"):
        _login(fake_ilink, tmp_path, []).run(None)
    assert not (tmp_path / CREDENTIALS_FILE).exists(), "the token is not kept for a host the bridge will not use"


def test_an_https_account_base_under_the_api_domain_is_kept(fake_ilink, tmp_path):
    fake_ilink.account_base = "https://sz.ilinkai.weixin.qq.com/"
    credentials = _login(fake_ilink, tmp_path, []).run(None)
    assert credentials.base_url == "https://sz.ilinkai.weixin.qq.com"
    assert load_credentials(tmp_path) == credentials


@pytest.mark.parametrize(
    ("redirect_host", "base"),
    [("sz.weixin.qq.com", "https://sz.weixin.qq.com"), ("weixin.qq.com:8443", "https://weixin.qq.com:8443")],
)
def test_a_redirect_under_the_api_domain_is_polled_over_https(redirect_host, base):
    settings = WeixinConfig(base_url="https://ilinkai.weixin.qq.com")
    assert redirect_base(redirect_host, settings.base_url, settings) == base
    assert redirect_base(redirect_host, "http://ilinkai.weixin.qq.com", settings) == base, "never http off loopback"


@pytest.mark.parametrize(
    ("language", "refusal"),
    [
        (Language.zh, "已拒绝：确认这张二维码的是 mallory-1@im.wechat，不是主人 {owner}；请用主人的微信扫下一张"),
        (
            Language.en,
            "refused: the QR code was confirmed by mallory-1@im.wechat, not by the owner {owner}; "
            "scan the next code with the owner's WeChat",
        ),
    ],
)
def test_a_qr_code_confirmed_by_another_wechat_is_refused_when_the_owner_is_known(
    fake_ilink, tmp_path, language, refusal
):
    fake_ilink.login_script = [["scaned", "confirmed"]]
    fake_ilink.scanned_by = {"qr-0": "mallory-1@im.wechat"}
    said: list[str] = []
    credentials = _login(fake_ilink, tmp_path, said, language=language).run(None, owner=fake_ilink.owner_id)
    assert fake_ilink.qr_keys == ["qr-0", "qr-1"], "the refused code is spent and a new one offered"
    assert credentials.user_id == fake_ilink.owner_id and credentials.bot_token == "tok-2"
    assert refusal.format(owner=fake_ilink.owner_id) in said, "the refusal reaches the owner in their language"
    assert load_credentials(tmp_path) == credentials
