"""The shipped chatgpt-on-wechat config must route to us and must not give the clone away."""

from __future__ import annotations

import json
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "chatgpt-on-wechat" / "config.json"


def test_config_reaches_our_server_without_revealing_the_bot():
    config = json.loads(CONFIG.read_text())
    assert config["bot_type"] == "chatGPT"
    assert config["open_ai_api_base"].endswith("/v1")
    assert config["agent"] is False and config["use_linkai"] is False
    assert config["single_chat_prefix"] == [""]
    assert config["single_chat_reply_prefix"] == "" and config["group_chat_reply_prefix"] == ""
    assert config["character_desc"] == "", "an empty system message lets the adapter's persona apply"
