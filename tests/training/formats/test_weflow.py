"""WeFlow's "weclone" CSV and the WeFlow / echotrace / miyu detailed JSON, from the shapes their
formatters write: BOM + CRLF CSV with ISO UTC times, and `session` + `messages` JSON."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from tests.training.formats.export_files import parse, read_jsonl, run_data
from wechat_twin.training.formats import registry, weflow_csv, weflow_json
from wechat_twin.training.formats.support.message import ExportFormatError, Kind
from wechat_twin.training.formats.support.weflow_text import kind_and_text

WECLONE_HEADER = "id,MsgSvrID,type_name,is_sender,talker,msg,src,CreateTime"


def utc(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


def weclone_file(folder, name: str, rows: list[str]):
    """WeFlow writes the header literally, then rows joined with CRLF, after a BOM."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(("\ufeff" + "\r\n".join([WECLONE_HEADER, *rows]) + "\r\n").encode("utf-8"))
    return path


AMEI = [
    '1,7301234567890123456,text,0,阿梅,"周末去爬山吗，\r\n带上相机",,2025-11-03T12:04:05.000Z',
    "2,7301234567890123999,text,1,我,好啊[引用 阿梅：周末去爬山吗，带上相机],,2025-11-03T12:05:10.000Z",
    "3,,image,0,阿梅,[图片],media/images/abc123.jpg,2025-11-03T12:06:00.000Z",
    "4,,text,1,我,[链接] 徒步路线推荐,,2025-11-03T12:06:30.000Z",
    "5,,text,0,阿梅,[转账收款]￥20.00 车费,,2025-11-03T12:07:00.000Z",
    "6,,text,0,阿梅,[红包]恭喜发财，大吉大利,,2025-11-03T12:07:30.000Z",
    '7,,text,0,阿梅,"""阿梅"" 撤回了一条消息",,2025-11-03T12:08:00.000Z',
    "8,,text,1,我,[旺柴] 带两瓶水,,2025-11-03T12:08:30.000Z",
    "9,,sticker,0,阿梅,[表情包：开心],https://cdn.example/e.gif,2025-11-03T12:09:00.000Z",
    "10,,text,1,我,[引用 阿梅：[图片]],,2025-11-03T12:09:30.000Z",
    "11,,text,0,阿梅,bad time,,yesterday",
]


def test_weclone_csv_reads_kinds_from_markers_and_keeps_reply_text(tmp_path):
    path = weclone_file(tmp_path, "私聊_阿梅.csv", AMEI)
    messages, options = parse(weflow_csv, path)
    got = [(m.sender_name, m.is_me, m.kind, m.text) for m in messages]
    assert got == [
        ("阿梅", False, Kind.TEXT, "周末去爬山吗，\r\n带上相机"),
        ("我", True, Kind.QUOTE, "好啊"),
        ("阿梅", False, Kind.IMAGE, ""),
        ("我", True, Kind.LINK, ""),
        ("阿梅", False, Kind.TRANSFER, ""),
        ("阿梅", False, Kind.RED_PACKET, ""),
        ("阿梅", False, Kind.RECALL, ""),
        ("我", True, Kind.TEXT, "[旺柴] 带两瓶水"),
        ("阿梅", False, Kind.STICKER, ""),
        ("我", True, Kind.QUOTE, ""),
    ]
    assert {(m.chat_id, m.chat_name, m.is_group) for m in messages} == {("私聊_阿梅", "阿梅", False)}
    assert messages[0].timestamp == utc("2025-11-03T12:04:05")  # UTC, whatever --timezone says
    assert options.diagnostics.malformed_examples == [f"{path}:13: unreadable time 'yesterday'"]


@pytest.mark.parametrize(
    ("msg", "kind", "text"),
    [
        ("[语音通话] 00:32", Kind.CALL, ""),
        ("[语音消息 - 转文字失败]", Kind.VOICE, ""),
        ("[视频]12s", Kind.VIDEO, ""),
        ("[文件]报名表.xlsx", Kind.FILE, ""),
        ("[小程序]美团", Kind.MINI_PROGRAM, ""),
        ("[转发的聊天记录]群聊的聊天记录", Kind.FORWARD, ""),
        ("[群公告]周六八点集合", Kind.SYSTEM, ""),
        ("你已添加了阿梅，现在可以开始聊天了。", Kind.SYSTEM, ""),
        ("阿梅撤回了一条消息", Kind.RECALL, ""),
        ("[捂脸][旺柴] 好吧", Kind.TEXT, "[捂脸][旺柴] 好吧"),
        ("行\n[引用 阿梅：几点？\n八点]", Kind.QUOTE, "行"),
    ],
)
def test_weflow_markers_are_read_back(msg, kind, text):
    assert kind_and_text(msg) == (kind, text)


def test_weclone_group_is_known_from_the_file_name(tmp_path):
    rows = [
        "1,,text,0,老张,今晚谁有空,,2025-11-03T12:00:00.000Z",
        "2,,text,1,阿杰,我有空,,2025-11-03T12:01:00.000Z",
    ]
    messages, _ = parse(weflow_csv, weclone_file(tmp_path, "群聊_周末徒步.csv", rows))
    assert {(m.chat_name, m.is_group) for m in messages} == {("周末徒步", True)}


def test_weclone_and_pywxdump_headers_half_match_and_the_registry_tells_them_apart(tmp_path):
    weclone = weclone_file(tmp_path, "私聊_阿梅.csv", AMEI[:1])
    pywxdump = tmp_path / "wxid_amei_0_1.csv"
    pywxdump.write_text(
        "id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\n"
        "1,1,文本,0,wxid_amei,wxid_amei,hi,,2024-01-01 10:00:00\n",
        encoding="utf-8",
    )
    assert 0 < weflow_csv.detect(pywxdump) < registry.SURE  # each looks damaged to the other
    assert registry.detect(weclone) is weflow_csv
    assert registry.detect(pywxdump) is registry.FORMATS["pywxdump"]


def test_weclone_folder_becomes_a_dataset(tmp_path):
    weclone_file(tmp_path / "export", "私聊_阿梅.csv", AMEI)
    result = run_data(tmp_path / "export", "--out", tmp_path / "out", "--dev-fraction", "0")
    assert result.exit_code == 0, result.output
    (sample,) = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert [(t["role"], t["content"]) for t in sample["messages"][1:3]] == [
        ("user", "周末去爬山吗，\n带上相机"),
        ("assistant", "好啊\n[旺柴] 带两瓶水"),  # the link between them is dropped: one burst
    ]
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["inputs"][0]["format"] == "weflow-csv"
    for reason in ("image", "link_card", "transfer", "red_packet", "recall", "sticker", "quote_without_text"):
        assert report["dropped"][reason] >= 1, reason


def detailed(messages: list[dict], session_type: str = "私聊", wxid: str = "wxid_amei01", weflow: bool = True) -> dict:
    data = {
        "session": {
            "wxid": wxid,
            "nickname": "Amei",
            "remark": "阿梅",
            "displayName": "阿梅",
            "type": session_type,
            "lastTimestamp": 1762171700,
            "messageCount": len(messages),
        },
        "messages": messages,
    }
    if weflow:
        data = {"weflow": {"version": "1.0.3", "exportedAt": 1762172000, "generator": "WeFlow"}, **data}
    return data


def record(local_id: int, t: int, local_type: int, content: str, is_send: int, sender: str, name: str) -> dict:
    return {
        "localId": local_id,
        "createTime": t,
        "formattedTime": "ignored",
        "type": "文本消息",
        "localType": local_type,
        "content": content,
        "isSend": is_send,
        "senderUsername": sender,
        "senderDisplayName": name,
        "source": "",
    }


DETAILED = [
    record(1, 1762171445, 1, "周末去爬山吗", 0, "wxid_amei01", "阿梅"),
    record(2, 1762171510, 244813135921, "好啊[引用 阿梅：周末去爬山吗]", 1, "wxid_me", "Jay"),
    record(3, 1762171520, 3, "media/images/a.jpg", 0, "wxid_amei01", "阿梅"),
    record(4, 1762171530, 266287972401, '"阿梅" 拍了拍我', 0, "wxid_amei01", "阿梅"),
    record(5, 1762171540, 8589934592049, "[转账]￥20.00", 0, "wxid_amei01", "阿梅"),
    record(6, 1762171550, 10000, '"阿梅" 撤回了一条消息', 0, "wxid_amei01", "阿梅"),
    record(7, 1762171560, 1, "几点出发 [旺柴]", 1, "wxid_me", "Jay"),
    {"localId": 8, "content": "no time", "isSend": 0, "localType": 1},
]


@pytest.mark.parametrize("weflow", [True, False], ids=["weflow", "echotrace"])
def test_detailed_json_types_come_from_local_type(tmp_path, weflow):
    path = tmp_path / "阿梅.json"
    path.write_text(json.dumps(detailed(DETAILED, weflow=weflow), ensure_ascii=False, indent=2), encoding="utf-8")
    assert registry.detect(path) is weflow_json
    messages, options = parse(weflow_json, path)
    got = [(m.sender_id, m.is_me, m.kind, m.text) for m in messages]
    assert got == [
        ("wxid_amei01", False, Kind.TEXT, "周末去爬山吗"),
        ("wxid_me", True, Kind.QUOTE, "好啊"),
        ("wxid_amei01", False, Kind.IMAGE, ""),
        ("wxid_amei01", False, Kind.PAT, ""),
        ("wxid_amei01", False, Kind.TRANSFER, ""),
        ("wxid_amei01", False, Kind.RECALL, ""),
        ("wxid_me", True, Kind.TEXT, "几点出发 [旺柴]"),
    ]
    assert messages[0].timestamp == 1762171445
    assert {(m.chat_id, m.chat_name, m.is_group) for m in messages} == {("wxid_amei01", "阿梅", False)}
    assert options.diagnostics.malformed_examples == [f"{path}:messages[7]: createTime is None, not a number"]


def test_detailed_json_group_strips_the_sender_prefix(tmp_path):
    messages = [record(1, 1762171445, 1, "wxid_lao:\n今晚谁有空", 0, "wxid_lao", "老张")]
    path = tmp_path / "徒步群.json"
    path.write_text(json.dumps(detailed(messages, "群聊", "123@chatroom"), ensure_ascii=False), encoding="utf-8")
    (message,), _ = parse(weflow_json, path)
    assert (message.text, message.is_group, message.chat_id) == ("今晚谁有空", True, "123@chatroom")


def test_broken_detailed_json_names_file_and_line(tmp_path):
    path = tmp_path / "阿梅.json"
    text = json.dumps(detailed(DETAILED[:2]), ensure_ascii=False, indent=2)
    path.write_text(text[:-40], encoding="utf-8")
    with pytest.raises(ExportFormatError, match=rf"{path}: not valid JSON \(line \d+: "):
        parse(weflow_json, path)
    arkme = tmp_path / "arkme.json"
    arkme.write_text(json.dumps({"weflow": {"format": "arkme-json"}, "session": {}, "messages": [], "senders": []}))
    with pytest.raises(ExportFormatError, match="arkme-json is not read"):
        parse(weflow_json, arkme)


@pytest.mark.parametrize(
    ("msg", "kind", "text"),
    [
        ("[引用 " * 10_000, Kind.TEXT, "[引用 " * 10_000),  # never closed: plain text
        ("好" + "[引用 " * 10_000 + "]", Kind.QUOTE, "好"),
        ("a]" * 20_000, Kind.TEXT, "a]" * 20_000),
    ],
)
def test_a_long_run_of_quote_markers_is_read_in_linear_time(msg, kind, text):
    """10,000 `[引用 ` a friend typed took over a second with a backtracking pattern (issue 27)."""
    started = time.perf_counter()
    assert kind_and_text(msg) == (kind, text)
    assert time.perf_counter() - started < 0.5
