"""Bridge settings: checked when they load, one `error:` line naming the file and field when they are wrong."""

from __future__ import annotations

from datetime import time

import pytest
from typer.testing import CliRunner

from wechat_twin.bridge.cli import app
from wechat_twin.bridge.config import ChannelName, QuietHours, load_config
from wechat_twin.errors import TwinError


def test_quiet_hours_over_midnight():
    quiet = load_config(None, quiet_hours="23:00-08:00").quiet_hours
    assert quiet == QuietHours(time(23, 0), time(8, 0))
    inside = [time(23, 0), time(23, 59), time(0, 0), time(3, 30), time(7, 59)]
    outside = [time(8, 0), time(12, 0), time(22, 59)]
    assert [quiet.contains(t) for t in inside] == [True] * 5
    assert [quiet.contains(t) for t in outside] == [False] * 3


def test_quiet_hours_within_a_day():
    quiet = load_config(None, quiet_hours="13:00-14:30").quiet_hours
    assert [quiet.contains(t) for t in (time(12, 59), time(13, 0), time(14, 29), time(14, 30))] == [
        False,
        True,
        True,
        False,
    ]


def test_no_quiet_hours_by_default():
    assert load_config(None).quiet_hours is None
    assert load_config(None, quiet_hours="").quiet_hours is None


@pytest.mark.parametrize("value", ["23-08", "23:00", "25:00-08:00", "23:00-08:60", "8:00-8:00", "ab:cd-08:00"])
def test_malformed_quiet_hours_stop_the_start_naming_file_and_field(tmp_path, value):
    settings = tmp_path / "bridge.toml"
    settings.write_text(f'quiet_hours = "{value}"\n')
    with pytest.raises(TwinError, match=rf"^{settings}: quiet_hours: '{value}'"):
        load_config(settings)


def test_a_malformed_setting_is_one_error_line_from_the_command(tmp_path):
    settings = tmp_path / "bridge.toml"
    settings.write_text('quiet_hours = "23:00 to 08:00"\nchannel = "console"\n')
    result = CliRunner().invoke(app, ["run", "--config", str(settings)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {settings}: quiet_hours: '23:00 to 08:00' is not HH:MM-HH:MM (e.g. 23:00-08:00)"
    ]


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path):
    settings = tmp_path / "bridge.toml"
    settings.write_text('model = "alice"\nmax_tokens = = 3\n')
    with pytest.raises(TwinError, match=rf"^{settings}: .*line 2"):
        load_config(settings)


def test_a_missing_settings_file_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "nope.toml: no settings file there" in result.output


def test_a_channel_typo_is_refused_before_anything_starts(tmp_path):
    result = CliRunner().invoke(app, ["run", "--channel", "wexin", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "wexin" in result.output
    assert not (tmp_path / "feedback.db").exists()
    assert [c.value for c in ChannelName] == ["weixin", "itchat", "console"]


def test_the_command_line_wins_over_the_file_and_the_file_over_the_defaults(tmp_path):
    settings = tmp_path / "bridge.toml"
    settings.write_text('model = "from-file"\nmax_tokens = 7\n[weixin]\nbase_url = "http://file:1"\nretry_s = 0.5\n')
    config = load_config(settings, weixin={"base_url": "http://cli:2"}, model="from-cli")
    assert (config.model, config.max_tokens, config.channel) == ("from-cli", 7, ChannelName.WEIXIN)
    assert (config.weixin.base_url, config.weixin.retry_s) == ("http://cli:2", 0.5)


def test_export_feedback_without_a_database_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["export-feedback", "--db", str(tmp_path / "none.db"), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path / 'none.db'}: no feedback database there"
