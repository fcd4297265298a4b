"""A simulated itchat transport: the real bridge fed itchat's own message dicts, sends captured."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tests.support.inprocess_server import InProcessServer, serve_fake
from wechat_twin.bridge.channels.base import Channel
from wechat_twin.bridge.channels.itchat_channel import from_itchat
from wechat_twin.bridge.config import BridgeConfig
from wechat_twin.bridge.service import Bridge
from wechat_twin.server.config import ServerSettings

SELF_ID = "@self0001"
FRIEND_REMARKS = {"@uncle01": "二舅"}  # the owner's remarks for friends, as itchat's friend list has them
_ids = itertools.count(1)


class SimulatedItchat(Channel):
    """Stands where itchat's network is; everything above it is the real bridge."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, chat_id: str, text: str) -> None:
        self.sent.append((chat_id, text))

    def run(self, inbox) -> None:  # the tests deliver messages one by one instead
        raise NotImplementedError

    def to(self, chat_id: str) -> list[str]:
        return [text for target, text in self.sent if target == chat_id]


def friend_message(text: str, user: str = "@friend01", nick: str = "Mia", remark: str = "", msg_id=None) -> dict:
    return {
        "MsgId": str(msg_id or next(_ids)),
        "FromUserName": user,
        "ToUserName": SELF_ID,
        "Type": "Text",
        "Text": text,
        "Content": text,
        "CreateTime": int(time.time()),
        "User": {"UserName": user, "NickName": nick, "RemarkName": remark, "VerifyFlag": 0},
    }


def group_message(
    text: str,
    at: bool,
    room: str = "@@room01",
    room_name: str = "Family",
    remark: str = "",
    sender: str = "@uncle01",
    sender_nick: str = "Uncle",
) -> dict:
    """`room_name` is the group's name (any member may change it); `remark` the owner's name for the group."""
    return {
        "MsgId": str(next(_ids)),
        "FromUserName": room,
        "ToUserName": SELF_ID,
        "Type": "Text",
        "Text": text,
        "Content": text,
        "CreateTime": int(time.time()),
        "IsAt": at,
        "ActualUserName": sender,
        "ActualNickName": sender_nick,
        "User": {"UserName": room, "NickName": room_name, "RemarkName": remark},
    }


def owner_message(text: str) -> dict:
    return {
        "MsgId": str(next(_ids)),
        "FromUserName": SELF_ID,
        "ToUserName": "filehelper",
        "Type": "Text",
        "Text": text,
        "Content": text,
        "CreateTime": int(time.time()),
        "User": {"UserName": "filehelper", "NickName": "文件传输助手"},
    }


class Harness:
    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.channel = SimulatedItchat()
        self.bridge = Bridge(config, self.channel, sleep=lambda _: None)

    def receive(self, msg: dict) -> None:
        is_group = msg["FromUserName"].startswith("@@")
        self.bridge.receive([from_itchat(msg, SELF_ID, is_group, remark_of=lambda user: FRIEND_REMARKS.get(user, ""))])


@pytest.fixture
def make_bridge(tmp_path: Path, twin_server):
    harnesses: list[Harness] = []

    def make(**changes) -> Harness:
        settings = {
            "api_base": twin_server.base_url,
            "api_key": twin_server.api_key,
            "model": "alice",
            "max_tokens": 12,
            "temperature": 0.0,
            "data_dir": tmp_path,
            "retries": 0,
            "backoff_s": 0.0,
            "typing_seconds_per_char": 0.0,
            **changes,
        }
        harness = Harness(BridgeConfig(**settings))
        harnesses.append(harness)
        return harness

    yield make
    for harness in harnesses:
        harness.bridge.close()


@pytest.fixture(scope="session")
def clone_api(adapters_dir: Path):
    """The real API server over the small fake engine: for bridge behaviour that does not depend on the model
    (what is held, relayed, logged); `knobs.reply` scripts the clone's draft."""
    with serve_fake(ServerSettings(adapters_dir=adapters_dir, api_keys=["bridge-key"])) as server:
        yield server


@pytest.fixture
def quick_bridge(tmp_path: Path, clone_api: InProcessServer):
    """`make_bridge` over `clone_api`: the itchat harness with no model engine behind it."""
    harnesses: list[Harness] = []
    clone_api.knobs.reply = None

    def make(**changes) -> Harness:
        settings = {
            "api_base": clone_api.base_url,
            "api_key": clone_api.api_key,
            "model": "alice",
            "data_dir": tmp_path,
            "retries": 0,
            "backoff_s": 0.0,
            "typing_seconds_per_char": 0.0,
            **changes,
        }
        harness = Harness(BridgeConfig(**settings))
        harnesses.append(harness)
        return harness

    yield make
    clone_api.knobs.reply = None
    for harness in harnesses:
        harness.bridge.close()
