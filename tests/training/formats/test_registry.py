"""Which format an input is: detection, folders, encodings, and what is refused."""

from __future__ import annotations

import json

import pytest

from tests.training.formats.export_files import MEMOTRACE_BASE, T0, base_row, shape_e, write_csv
from wechat_twin.training.formats import registry
from wechat_twin.training.formats.support.message import Diagnostics, ExportFormatError


def test_each_format_is_detected(tmp_path):
    files = {
        "memotrace": shape_e(tmp_path / "messages.csv", [("3", False, T0, "hi", "", "w", "w")]),
        "memotrace-zh": write_csv(
            tmp_path / "小王.csv",
            ["消息ID", "类型", "发送人", "时间", "内容", "备注", "昵称", "更多信息"],
            [["1", "文本", "小王", "2025-01-01 10:00:00", "hi", "", "", "more"]],
        ),
        "pywxdump": write_csv(
            tmp_path / "wxid_a_0_2.csv",
            ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src", "CreateTime"],
            [[1, 1, "文本", 0, "wxid_a", "wxid_a", "hi", "", "2024-01-01 10:00:00"]],
            "utf-8",
        ),
        "wechatexporter": tmp_path / "小红.txt",
        "telegram": tmp_path / "result.json",
        "jsonl": tmp_path / "m.jsonl",
    }
    files |= {
        "weflow-csv": tmp_path / "私聊_阿梅.csv",
        "weflow-json": tmp_path / "阿梅.json",
        "chatlab": tmp_path / "阿梅.jsonl",
        "chatlog-json": tmp_path / "chatlog.json",
        "chatlog-csv": tmp_path / "wxid_a_2025-01-01_2025-01-31.csv",
    }
    files["weflow-csv"].write_text(
        "\ufeffid,MsgSvrID,type_name,is_sender,talker,msg,src,CreateTime\r\n1,,text,0,阿梅,hi,,2025-11-03T12:04:05.000Z\r\n"
    )
    files["weflow-json"].write_text(
        json.dumps({"session": {"wxid": "a"}, "messages": [{"createTime": 1, "localType": 1, "isSend": 0}]}, indent=2)
    )
    files["chatlab"].write_text('{"_type":"header","chatlab":{"version":"0.0.2"},"meta":{"type":"private"}}\n')
    files["chatlog-json"].write_text('[{"seq":1,"time":"2025-11-03T20:04:05+08:00","talker":"a","isSelf":false}]')
    files["chatlog-csv"].write_text("Time,SenderName,Sender,TalkerName,Talker,Content\n2025-11-03 20:04:05,A,a,,a,hi\n")
    files["wechatexporter"].write_text("小红 - 微信聊天记录\n\n小红 (2024-01-01 10:00:00):hi\n", encoding="utf-8")
    files["telegram"].write_text(json.dumps({"name": "A", "type": "personal_chat", "id": 1, "messages": []}))
    files["jsonl"].write_text('{"chat": "c", "sender": "a", "is_me": false, "time": 1, "text": "hi"}\n')
    assert set(files) == set(registry.FORMATS)
    for name, path in files.items():
        assert registry.detect(path) is registry.FORMATS[name], path


def test_gbk_and_bom_files_are_detected(tmp_path):
    rows = [base_row(1, "3", False, T0, "你好")]
    for encoding in ("gbk", "utf-8-sig", "utf-8"):
        path = write_csv(tmp_path / f"{encoding}.csv", MEMOTRACE_BASE, rows, encoding)
        assert registry.detect(path).NAME == "memotrace"


def test_binary_and_unknown_files_are_not_exports(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "b.csv").write_text("x,y\n1,2\n")
    assert registry.detect(tmp_path / "a.png") is None
    assert registry.detect(tmp_path / "b.csv") is None
    with pytest.raises(ExportFormatError, match="folder holds no known chat export"):
        registry.resolve([tmp_path], "auto", Diagnostics())
    with pytest.raises(ExportFormatError, match="no such file or folder"):
        registry.resolve([tmp_path / "missing.csv"], "auto", Diagnostics())


def test_a_folder_skips_half_matches_that_a_named_file_would_report(tmp_path):
    shape_e(tmp_path / "messages.csv", [("3", False, T0, "hi", "", "w", "w")])
    (tmp_path / "train.jsonl").write_text('{"messages": []}\n')  # an earlier run's output
    diagnostics = Diagnostics()
    assert [p.name for p, _ in registry.resolve([tmp_path], "auto", diagnostics)] == ["messages.csv"]
    assert any("train.jsonl: skipped" in w for w in diagnostics.warnings)
    assert registry.resolve([tmp_path / "train.jsonl"], "auto", Diagnostics())[0][1] is registry.FORMATS["jsonl"]
