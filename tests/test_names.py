"""One name shape for adapters and chat keys: training writes only folders the server will serve by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wechat_twin.server.api.adapters.router import LoadLoRAAdapterRequest
from wechat_twin.server.config import check_chat_key
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
        check_chat_key(name, "secret")
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", NAMES)
def test_training_the_server_and_chat_keys_accept_the_same_names(tmp_path, name):
    expected = name[0].isascii() and name[0].isalnum() and len(name) <= 64 and " " not in name and "+" not in name
    assert _server_loads(name) is _training_writes(tmp_path, name) is _chat_key_named(name) is expected
