"""Chat keys (`--chat-key NAME=KEY:clone=...`) and where the page's feedback goes: parsed and checked at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from wechat_twin.errors import UsageError
from wechat_twin.server.cli import app
from wechat_twin.server.config import ServerSettings, check_exposure
from wechat_twin.server.keys import ChatKey, parse_chat_keys


def test_a_chat_key_is_split_at_the_first_equals_sign_so_the_key_may_contain_one():
    assert parse_chat_keys(["lin=abc==:clone=me", "mei=x:y:clone=*:contact=小雨"]) == {
        "lin": ChatKey(key="abc==", clones=["me"]),
        "mei": ChatKey(key="x:y", clones=["*"], contact="小雨"),
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("justakey", "write a chat key as NAME=KEY"),
        ("bad name=k:clone=me", "must match"),
        ("lin=:clone=me", "is empty"),
        ("lin=   :clone=me", "is empty"),
        ("lin=k", "say which clones it may use"),
        ("api-key-1=k:clone=me", "is reserved"),
        ("local=k:clone=me", "is reserved"),
        ("Admin-Key-2=k:clone=me", "is reserved"),
    ],
)
def test_a_malformed_chat_key_is_refused_with_what_to_write(value, message):
    with pytest.raises(ValueError, match=message):
        parse_chat_keys([value])


def test_a_chat_key_name_given_twice_is_refused():
    with pytest.raises(ValueError, match="given twice"):
        parse_chat_keys(["lin=a:clone=me", "lin=b:clone=me"])


def test_the_cli_refuses_a_bad_chat_key_before_loading_any_model():
    result = CliRunner().invoke(app, ["serve", "--chat-key", "no-equals-sign"])
    assert result.exit_code == 2
    assert "NAME=KEY" in result.output


def test_feedback_goes_beside_the_adapters_unless_told_and_nowhere_without_either(tmp_path: Path):
    assert ServerSettings(adapters_dir=tmp_path / "adapters").feedback_path() == tmp_path / "feedback.db"
    assert ServerSettings(adapters_dir=tmp_path, feedback_db=tmp_path / "f.db").feedback_path() == tmp_path / "f.db"
    assert ServerSettings().feedback_path() is None


def test_chat_keys_alone_are_enough_to_listen_beyond_loopback():
    check_exposure(ServerSettings(host="0.0.0.0", chat_keys={"lin": ChatKey(key="k" * 16, clones=["me"])}))
    with pytest.raises(UsageError, match="without an API key"):
        check_exposure(ServerSettings(host="0.0.0.0"))
