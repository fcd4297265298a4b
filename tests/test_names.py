"""Names declared once: one shape for adapters and chat keys (training writes only folders the server serves by
name), and one feedback database file name for the chat page and the bridge."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wechat_twin.bridge.config import BridgeConfig
from wechat_twin.names import split_version
from wechat_twin.server.api.adapters.router import LoadLoRAAdapterRequest
from wechat_twin.server.config import ServerSettings
from wechat_twin.server.keys import check_chat_key_name
from wechat_twin.training.adapter_output import AdapterOutputError, prepare_output_dir

NAMES = ["alice", "Alice-2.sft_v1", "7", "x" * 64, "x" * 65, "-bad", ".hidden", "_x", "a b", "张三", "a+b"]


def _server_loads(name: str) -> bool:
    try:
        LoadLoRAAdapterRequest(lora_name=name)
    except ValidationError:
        return False
    return True


def _training_writes(tmp_path, name: str) -> bool:
    try:
        prepare_output_dir(tmp_path / name, overwrite=False)
    except AdapterOutputError:
        return False
    return True


def _chat_key_named(name: str) -> bool:
    try:
        check_chat_key_name(name)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", NAMES)
def test_training_the_server_and_chat_keys_accept_the_same_names(tmp_path, name):
    expected = name[0].isascii() and name[0].isalnum() and len(name) <= 64 and " " not in name and "+" not in name
    assert _server_loads(name) is _training_writes(tmp_path, name) is _chat_key_named(name) is expected


VERSIONED = ["me@1", "me@12", "x" * 64 + "@3", "me@0", "me@01", "me@", "@2", "me@2@3", "me@x"]


@pytest.mark.parametrize("name", VERSIONED)
def test_training_and_the_server_accept_the_same_versioned_names_and_chat_keys_none(tmp_path, name):
    """A clone's version `me@N` is an adapter name (training writes it, the server loads it), never a key's."""
    expected = name in ("me@1", "me@12", "x" * 64 + "@3")
    assert _server_loads(name) is _training_writes(tmp_path, name) is expected
    assert not _chat_key_named(name)
    assert split_version(name) == ((name.split("@")[0], int(name.split("@")[1])) if expected else (name, None))


def test_the_chat_page_and_the_bridge_default_to_one_feedback_database(tmp_path):
    """The server's default sits beside the adapters folder; a bridge run from that folder's parent writes there."""
    served = ServerSettings(adapters_dir=tmp_path / "adapters").feedback_path()
    assert served == BridgeConfig(data_dir=tmp_path).database.resolve()
