"""Error and report lines that name a file or a contact read correctly when the names are Chinese.

A UTF-8 Chinese path shows as typed; a GBK file name (an export zipped on a Chinese Windows and unzipped
on Linux) is read, reported and written as the Chinese it is, never as escaped bytes or a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.training.formats.export_files import T0, conversation, read_jsonl, run_data, shape_e, write_csv
from wechat_twin.bridge.cli import app as bridge_app
from wechat_twin.errors import readable

FRIEND = "陈小美"


def _gbk_named(folder: Path, name: str) -> Path:
    """A path whose file name is `name` in GBK bytes, as unzip leaves it; skipped where the file system refuses."""
    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + name.encode("gbk")))
    try:
        path.touch()
    except OSError:
        pytest.skip("this file system takes UTF-8 file names only")
    return path


def _with_a_bad_time(path: Path) -> Path:
    rows = conversation(friend=FRIEND, pairs=4)
    shape_e(path, rows)
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    lines[3] = lines[3].replace(str(T0 + 120), "下午三点", 1)
    path.write_text("\r\n".join(lines), encoding="utf-8-sig")
    return path


def test_a_missing_chinese_path_is_named_as_typed(tmp_path):
    missing = tmp_path / "微信导出 2026" / "和陈小美的聊天.csv"
    result = run_data(missing, "--out", tmp_path / "输出")
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {missing}: no such file or folder"


def test_a_malformed_row_in_a_chinese_file_names_file_line_and_field(tmp_path):
    export = _with_a_bad_time(tmp_path / "微信导出 2026" / f"{FRIEND}.csv")
    out = tmp_path / "输出"
    result = run_data(export, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"  {export}:4: CreateTime '下午三点' is not Unix seconds" in result.output.splitlines()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["malformed_rows"]["first"] == [f"{export}:4: CreateTime '下午三点' is not Unix seconds"]
    assert [item["path"] for item in report["inputs"]] == [str(export)]


def _unmarked_chat(path: Path) -> Path:
    """A MemoTrace Chinese-header chat whose file name does not say who the owner is (杰哥 writes to 陈小美)."""
    header = ["消息ID", "类型", "发送人", "时间", "内容", "备注", "昵称", "更多信息"]
    said = [(FRIEND, "周末去哪儿"), ("杰哥", "去爬山吧"), (FRIEND, "好呀"), ("杰哥", "那就说定了")]
    rows = [
        [str(i), "文本", who, f"2025-03-01 09:00:{10 * i:02d}", text, FRIEND if who == FRIEND else "", "", ""]
        for i, (who, text) in enumerate(said, start=1)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(path, header, rows)


def test_an_error_about_the_owner_names_the_chinese_file_and_contacts(tmp_path):
    export = _unmarked_chat(tmp_path / "微信导出" / "群聊 (1).csv")
    result = run_data(export, "--out", tmp_path / "输出")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {export}: MemoTrace's Chinese-header CSV does not mark the owner: pass --me NAME "
        f"(speakers: 杰哥 (2), {FRIEND} (2))"
    )
    result = run_data(export, "--out", tmp_path / "输出", "--me", "王小明")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {export}: no messages from the owner: --me 王小明 matches no speaker "
        f"(speakers: 杰哥 (2), {FRIEND} (2))"
    )


def test_an_owner_not_in_the_export_is_named_in_chinese(tmp_path):
    export = shape_e(tmp_path / "聊天记录.csv", conversation(friend=FRIEND))
    result = run_data(export, "--out", tmp_path / "out", "--allow", "王小明")
    assert "warning: no training samples" in result.output
    assert "\\u" not in result.output and "\\x" not in result.output


def test_a_gbk_file_name_is_read_and_reported_as_chinese(tmp_path):
    folder = tmp_path / "微信导出"
    folder.mkdir()
    export = _with_a_bad_time(_gbk_named(folder, f"{FRIEND}的聊天.csv"))
    out = tmp_path / "out"
    result = run_data(export, "--out", out)
    assert result.exit_code == 0, result.output
    shown = f"{folder}/{FRIEND}的聊天.csv"
    assert f"  {shown}:4: CreateTime '下午三点' is not Unix seconds" in result.output.splitlines()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [item["path"] for item in report["inputs"]] == [shown]
    assert {m["content"] for r in read_jsonl(out / "train.jsonl") for m in r["messages"]} >= {"question 0"}


def test_an_error_about_a_gbk_file_name_shows_the_chinese_name(tmp_path):
    export = _gbk_named(tmp_path, "聊天记录.csv")
    export.write_text("foo,bar\n1,2\n", encoding="utf-8")
    result = run_data(export, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {tmp_path}/聊天记录.csv: not a known chat export format")


def test_a_bridge_settings_error_names_the_chinese_file_and_field(tmp_path):
    settings = tmp_path / "设置" / "桥接.toml"
    settings.parent.mkdir()
    settings.write_text('quiet_hours = "晚上十一点"\n', encoding="utf-8")
    result = CliRunner().invoke(bridge_app, ["run", "--config", str(settings)])
    assert result.exit_code == 1
    assert (
        result.output.strip() == f"error: {settings}: quiet_hours: '晚上十一点' is not HH:MM-HH:MM (e.g. 23:00-08:00)"
    )


def test_readable_decodes_only_the_names_that_are_not_utf8():
    gbk = os.fsdecode("坏时间.csv".encode("gbk"))
    assert gbk != "坏时间.csv"
    assert readable(f"微信导出/{gbk}:4: 陈小美 说了什么") == "微信导出/坏时间.csv:4: 陈小美 说了什么"
    assert readable("plain ascii: 中文 too") == "plain ascii: 中文 too"
    assert readable(os.fsdecode(b"\xff\xfe.csv")) == "\\xff\\xfe.csv"
