"""Who may start a keyless server: loopback only. Checked through the real `twin-server serve` command,
with uvicorn.run stubbed so no engine starts (the refusal happens before any model is touched)."""

from __future__ import annotations

import os

import pytest
import uvicorn
from typer.testing import CliRunner

from wechat_twin.network import is_loopback
from wechat_twin.server.cli import app as server_app
from wechat_twin.server.keys import MIN_PUBLIC_KEY_LENGTH

LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1", "localhost"]
LONG_KEY = "k" * MIN_PUBLIC_KEY_LENGTH
NETWORK = ["0.0.0.0", "::", "192.168.1.20", "10.0.0.7", "fe80::1", "example.com"]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_addresses_are_loopback(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", NETWORK)
def test_network_addresses_are_not_loopback(host):
    assert not is_loopback(host)


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch):
    """Run `twin-server serve --host HOST [...]`; returns (result, what uvicorn.run was given or None)."""
    monkeypatch.delenv("TWIN_API_KEYS", raising=False)
    monkeypatch.delenv("TWIN_ADMIN_KEYS", raising=False)
    monkeypatch.delenv("TWIN_CHAT_KEYS", raising=False)
    monkeypatch.delenv("TWIN_KEY_FILE", raising=False)

    def run(host: str, *extra: str):
        started: dict = {}
        monkeypatch.setattr(uvicorn, "run", lambda application, **kwargs: started.update(app=application, **kwargs))
        result = CliRunner().invoke(server_app, ["serve", "--host", host, "--engine", "transformers", *extra])
        return result, started or None

    return run


@pytest.mark.parametrize("host", ["::", "192.168.1.20"])
def test_a_network_address_without_a_key_is_refused(serve, host):
    result, started = serve(host)
    assert result.exit_code == 2, result.output
    assert f"refusing to listen on {host} without an API key" in result.output
    assert started is None


@pytest.mark.parametrize("host", ["::", "192.168.1.20"])
def test_a_network_address_with_a_key_is_served(serve, host):
    result, started = serve(host, "--api-key", LONG_KEY)
    assert result.exit_code == 0, result.output
    assert started["host"] == host
    assert started["app"].state.settings.api_keys == [LONG_KEY]


@pytest.mark.parametrize("host", ["localhost", "::1", "127.0.0.1"])
def test_loopback_needs_no_key(serve, host):
    result, started = serve(host)
    assert result.exit_code == 0, result.output
    assert started["host"] == host
    assert started["app"].state.settings.api_keys == []


@pytest.mark.parametrize(
    ("option", "value"),
    [("--api-key", ""), ("--api-key", "   "), ("--admin-key", ""), ("--chat-key", "lin=:clone=me")],
)
def test_an_empty_key_is_refused_naming_its_option_not_served_as_no_key(serve, option, value):
    """`--api-key "$KEY"` with KEY unset used to start a keyed server that an empty X-Api-Key opened."""
    result, started = serve("0.0.0.0", "--api-key", LONG_KEY, option, value)
    assert result.exit_code == 2, result.output
    assert option in result.output and "empty" in result.output
    assert started is None


def test_on_a_public_address_a_short_key_is_refused(serve):
    result, started = serve("0.0.0.0", "--api-key", "k" * (MIN_PUBLIC_KEY_LENGTH - 1))
    assert result.exit_code == 2 and "--api-key" in result.output and "shorter than" in result.output
    assert started is None


def test_the_same_key_twice_is_refused_since_it_would_have_two_names(serve):
    result, _ = serve("127.0.0.1", "--api-key", LONG_KEY, "--chat-key", f"lin={LONG_KEY}:clone=me")
    assert result.exit_code == 2 and "given twice" in result.output


def test_require_key_refuses_a_keyless_loopback_server(serve):
    result, started = serve("127.0.0.1", "--require-key")
    assert result.exit_code == 2 and "--require-key" in result.output
    assert started is None


def key_file(path, text: str, mode: int = 0o600):
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_keys_come_from_a_key_file_and_the_environment(serve, tmp_path, monkeypatch):
    keys = key_file(
        tmp_path / "keys.toml",
        f'api = ["{"a" * 20}"]\nadmin = ["{"b" * 20}"]\n'
        f'[chat.lin]\nkey = "{"c" * 20}"\nclones = ["me"]\ncontact = "小雨"\n',
    )
    monkeypatch.setenv("TWIN_API_KEYS", "d" * 20)
    result, started = serve("0.0.0.0", "--key-file", str(keys))
    assert result.exit_code == 0, result.output
    settings = started["app"].state.settings
    assert settings.api_keys == ["d" * 20, "a" * 20] and settings.admin_keys == ["b" * 20]
    assert settings.chat_keys["lin"].key == "c" * 20 and settings.chat_keys["lin"].contact == "小雨"
    assert started["proxy_headers"] is False


def test_a_key_file_entry_without_clones_or_with_a_typo_is_refused(serve, tmp_path):
    keys = key_file(tmp_path / "keys.toml", f'[chat.lin]\nkey = "{"c" * 20}"\n')
    result, _ = serve("127.0.0.1", "--key-file", str(keys))
    assert result.exit_code == 2 and "--key-file" in result.output and "clones" in result.output
    keys.write_text(f'apikeys = ["{"a" * 20}"]\n', encoding="utf-8")
    result, _ = serve("127.0.0.1", "--key-file", str(keys))
    assert result.exit_code == 2 and "unknown entries" in result.output


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_file_other_users_can_open_is_refused_like_ssh_refuses_a_private_key(serve, tmp_path, mode):
    keys = key_file(tmp_path / "keys.toml", f'api = ["{"a" * 20}"]\n', mode)
    result, started = serve("0.0.0.0", "--key-file", str(keys))
    assert result.exit_code == 2 and started is None, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(keys) in errors[0] and f"chmod 600 {keys}" in errors[0], result.output
    keys.chmod(0o600)
    assert serve("0.0.0.0", "--key-file", str(keys))[0].exit_code == 0


def test_a_key_file_another_user_owns_may_be_read_by_its_group_never_by_everyone(serve, tmp_path):
    """A Kubernetes Secret: owned by root, mode 0440, readable by the group the server runs in."""
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    keys = key_file(tmp_path / "keys.toml", f'api = ["{"a" * 20}"]\n', 0o440)
    os.chown(keys, 10001, 10001)
    assert serve("0.0.0.0", "--key-file", str(keys))[0].exit_code == 0
    keys.chmod(0o444)
    result, started = serve("0.0.0.0", "--key-file", str(keys))
    assert result.exit_code == 2 and started is None and f"chmod 600 {keys}" in result.output
