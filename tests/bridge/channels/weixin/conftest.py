"""The fake iLink server, and the real bridge on the weixin channel running against it in threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.fake_ilink import FakeIlink
from wechat_twin.bridge.channels.weixin.channel import WeixinChannel
from wechat_twin.bridge.cli import _answer_in_background
from wechat_twin.bridge.config import BridgeConfig, WeixinConfig
from wechat_twin.bridge.service import Bridge
from wechat_twin.bridge.texts import Texts

FRIEND = "mia-91c2@im.wechat"
# Tencent's client waits 2 s after a failed poll and pauses 30 s after three; here the same rule, shorter.
# The fake listens on 127.0.0.1 over http: `allow_loopback` lets its redirect and account base through.
FAST = {
    "poll_timeout_s": 5.0,
    "retry_s": 0.05,
    "pause_s": 0.2,
    "send_backoff_s": 0.05,
    "send_backoff_max_s": 0.2,
    "typing_keepalive_s": 0.5,
    "qr_poll_s": 0.02,
    "allow_loopback": True,
}


def wait_for(condition: Callable[[], object], timeout_s: float = 60.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake_ilink():
    fake = FakeIlink()
    fake.start()
    yield fake
    fake.stop()
    assert fake.violations == [], "the bridge broke the iLink protocol"


class Running:
    """The bridge on the weixin channel: receive and answer loops in threads, as `twin-bridge run` has them."""

    def __init__(self, config: BridgeConfig, said: list[str], codes: list[str], owner_answers: list[bool]) -> None:
        self.config = config
        self.said = said
        self.channel = WeixinChannel(
            config.weixin,
            config.data_dir,
            say=said.append,
            ask_code=lambda: codes.pop(0),
            confirm_owner=lambda user: owner_answers.pop(0),
            texts=Texts(config.language),
        )
        self.bridge = Bridge(config, self.channel, sleep=time.sleep)
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._receiver = threading.Thread(target=self._receive, name="receive", daemon=True)
        self._answerer: threading.Thread | None = None

    def _receive(self) -> None:
        try:
            self.channel.run(self.bridge)
        except BaseException as exc:
            self.error = exc

    def start(self, answer: bool = True) -> Running:
        self._receiver.start()
        if answer:
            self._answerer = _answer_in_background(self.bridge, self._stop, self.config.answer_poll_s)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.channel.stop.set()
        self._receiver.join(timeout=30)
        if self._answerer is not None:
            self._answerer.join(timeout=120)
        self.bridge.close()

    def statuses(self) -> list[str]:
        return [row["status"] for row in self.bridge.store.inbox_rows()]


@pytest.fixture
def run_weixin(tmp_path: Path, fake_ilink: FakeIlink, request: pytest.FixtureRequest):
    """Start a bridge; `api` says which server answers (the real one on the embedded model by default)."""
    started: list[Running] = []

    def start(
        api_base: str | None = None,
        data_dir: Path = tmp_path,
        codes=(),
        owner_answers=(),
        answer=True,
        weixin: dict | None = None,
        **changes,
    ) -> Running:
        if api_base is None:
            # asked for by the test, so that its tiers (tests/support/tiers.py) see the engine it starts
            assert "twin_server" in request.fixturenames, "a test the real server answers asks for twin_server"
            server = request.getfixturevalue("twin_server")
            api_base, changes = server.base_url, {"api_key": server.api_key, **changes}
        settings = {
            "api_base": api_base,
            "model": "alice",
            "max_tokens": 12,
            "temperature": 0.0,
            "data_dir": data_dir,
            "retries": 0,
            "backoff_s": 0.0,
            "typing_seconds_per_char": 0.0,
            "answer_poll_s": 0.05,
            **changes,
            "weixin": WeixinConfig(base_url=fake_ilink.base_url, **{**FAST, **(weixin or {})}),
        }
        running = Running(BridgeConfig(**settings), [], list(codes), list(owner_answers))
        started.append(running.start(answer))
        return running

    yield start
    for running in started:
        running.stop()
