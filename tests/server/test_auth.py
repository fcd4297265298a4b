"""Who may start a keyless server: loopback only. Checked through the real `twin-server serve` command,
with uvicorn.run stubbed so no engine starts (the refusal happens before any model is touched)."""

from __future__ import annotations

import pytest
import uvicorn
from typer.testing import CliRunner

from wechat_twin.server.cli import app as server_app
from wechat_twin.server.config import is_loopback

LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1", "localhost"]
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
    result, started = serve(host, "--api-key", "k-1")
    assert result.exit_code == 0, result.output
    assert started["host"] == host
    assert started["app"].state.settings.api_keys == ["k-1"]


@pytest.mark.parametrize("host", ["localhost", "::1", "127.0.0.1"])
def test_loopback_needs_no_key(serve, host):
    result, started = serve(host)
    assert result.exit_code == 0, result.output
    assert started["host"] == host
    assert started["app"].state.settings.api_keys == []
