"""chatlog: its JSON and CSV exports, and the live pull from its HTTP API (against a fake chatlog
server that answers as chatlog does, tests/support/fake_chatlog.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.support.fake_chatlog import Contact, FakeChatlog, FakeChatlogServer, StoredMessage
from tests.support.server_process import free_port
from tests.training.formats.export_files import parse, read_jsonl, run_data
from wechat_twin.errors import UsageError
from wechat_twin.training.formats import chatlog_api, chatlog_csv, chatlog_json, registry
from wechat_twin.training.formats.support.message import Diagnostics, ExportFormatError, Kind, ParseOptions

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2025, 11, 3, 20, 4, 5, tzinfo=BEIJING)
CONTACTS = [Contact("wxid_amei01", "Amei", "阿梅"), Contact("wxid_bo", "Bo"), Contact("123@chatroom", "徒步群")]


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stored() -> list[StoredMessage]:
    """Two one-to-one chats and a group, as chatlog's model.Message rows."""
    amei = [
        StoredMessage(1, at(0), "wxid_amei01", "wxid_amei01", False, "周末去爬山吗", sender_name="阿梅"),
        StoredMessage(2, at(60), "wxid_amei01", "wxid_me123", True, "好啊", 49, 57),
        StoredMessage(3, at(70), "wxid_amei01", "wxid_amei01", False, "", 3, sender_name="阿梅"),
        StoredMessage(4, at(80), "wxid_amei01", "系统消息", False, '"阿梅" 撤回了一条消息', 10000),
        StoredMessage(5, at(90), "wxid_amei01", "wxid_amei01", False, "几点？", sender_name="阿梅"),
        StoredMessage(6, at(120), "wxid_amei01", "wxid_me123", True, "八点 [旺柴]"),
        StoredMessage(7, at(130), "wxid_amei01", "wxid_amei01", False, "[转账|收款 ¥8.00]", 49, 2000, "阿梅"),
    ]
    bo = [
        StoredMessage(8, at(200), "wxid_bo", "wxid_bo", False, "在吗", sender_name="Bo"),
        StoredMessage(9, at(230), "wxid_bo", "wxid_me123", True, "在"),
    ]
    group = [
        StoredMessage(10, at(300), "123@chatroom", "wxid_lao", False, "谁去", sender_name="老张", talker_name="徒步群"),
        StoredMessage(11, at(310), "123@chatroom", "wxid_me123", True, "我", talker_name="徒步群"),
    ]
    return amei + bo + group


def test_a_saved_chatlog_json_reads_is_self_types_and_offsets(tmp_path):
    path = tmp_path / "chatlog.json"
    path.write_text(json.dumps([m.json() for m in stored()], ensure_ascii=False), encoding="utf-8")
    assert registry.detect(path) is chatlog_json
    messages, _ = parse(chatlog_json, path)
    got = [(m.chat_id, m.is_me, m.kind, m.text) for m in messages[:7]]
    assert got == [
        ("wxid_amei01", False, Kind.TEXT, "周末去爬山吗"),
        ("wxid_amei01", True, Kind.QUOTE, "好啊"),
        ("wxid_amei01", False, Kind.IMAGE, ""),
        ("wxid_amei01", False, Kind.RECALL, ""),
        ("wxid_amei01", False, Kind.TEXT, "几点？"),
        ("wxid_amei01", True, Kind.TEXT, "八点 [旺柴]"),
        ("wxid_amei01", False, Kind.TRANSFER, ""),
    ]
    assert messages[0].timestamp == T0.timestamp()  # the offset in the file wins over --timezone
    assert messages[0].chat_name == "阿梅" and not messages[0].is_group
    assert (messages[-1].chat_name, messages[-1].is_group) == ("徒步群", True)


def test_a_bad_chatlog_json_names_file_line_and_record(tmp_path):
    path = tmp_path / "chatlog.json"
    path.write_text('[{"seq": 1, "time": "2025-11-03T20:04:05+08:00", "talker": "a", "isSelf": true,\n "type": }]')
    with pytest.raises(ExportFormatError, match=rf"^{path}: not valid JSON \(line 2: Expecting value\)$"):
        parse(chatlog_json, path)
    records = [m.json() for m in stored()[:2]]
    del records[1]["time"]
    path.write_text(json.dumps(records), encoding="utf-8")
    messages, options = parse(chatlog_json, path)
    assert len(messages) == 1
    assert options.diagnostics.malformed_examples == [f"{path}:record 2: missing key 'time'"]


def chatlog_csv_file(tmp_path, zone=BEIJING):
    """What `format=csv` answers: Go's csv writer, LF line ends, local time without a zone."""
    rows = ["Time,SenderName,Sender,TalkerName,Talker,Content"]
    for m in stored():
        stamp = m.time.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        rendered = m.content
        if (m.type, m.sub_type) == (49, 57):
            rendered = f'"> 阿梅(wxid_amei01) 11-03 20:04:05\n> 周末去爬山吗\n{m.content}"'
        elif m.type == 3:
            rendered = "![图片](http://127.0.0.1:5030/image/0a1b2c)"
        private = not m.talker.endswith("@chatroom")
        name = "" if m.is_self and private else m.sender_name
        rows.append(",".join([stamp, name, m.sender, m.talker_name, m.talker, rendered]))
    path = tmp_path / "wxid_amei01_2025-11-01_2025-11-30.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_chatlog_csv_takes_the_owner_from_me_or_from_the_unnamed_sender(tmp_path):
    path = chatlog_csv_file(tmp_path)
    assert registry.detect(path) is chatlog_csv
    messages, options = parse(chatlog_csv, path)
    assert {m.sender_id for m in messages if m.is_me} == {"wxid_me123"}
    assert any("owner taken to be wxid_me123" in w for w in options.diagnostics.warnings)
    got = [(m.kind, m.text) for m in messages[:4]]
    assert got == [(Kind.TEXT, "周末去爬山吗"), (Kind.QUOTE, "好啊"), (Kind.IMAGE, ""), (Kind.RECALL, "")]
    assert messages[0].timestamp == T0.timestamp()  # read in --timezone (default Asia/Shanghai)
    utc, _ = parse(chatlog_csv, path, me=("wxid_me123",), timezone=UTC)
    assert utc[0].timestamp == T0.timestamp() + 8 * 3600
    assert [m.is_me for m in utc] == [m.is_me for m in messages]


def test_chatlog_csv_without_an_unnamed_sender_asks_for_me(tmp_path):
    path = tmp_path / "123@chatroom.csv"
    path.write_text(
        "Time,SenderName,Sender,TalkerName,Talker,Content\n"
        "2025-11-03 20:09:05,老张,wxid_lao,徒步群,123@chatroom,谁去\n"
        "2025-11-03 20:09:15,Jay,wxid_me123,徒步群,123@chatroom,我\n",
        encoding="utf-8",
    )
    with pytest.raises(ExportFormatError, match=r"no is-self column: pass --me WXID \(senders: wxid_lao \(1\)"):
        parse(chatlog_csv, path)


@pytest.mark.parametrize(
    ("content", "kind", "text"),
    [
        ("[链接|徒步路线](https://example.com/r)", Kind.LINK, ""),
        ("[文件|报名表.xlsx](http://127.0.0.1:5030/file/abc)", Kind.FILE, ""),
        ("[位置|奥森公园|北京|39.9|116.3]", Kind.LOCATION, ""),
        ("![动画表情](https://cdn.example/e.gif)", Kind.STICKER, ""),
        ("[语音](http://127.0.0.1:5030/voice/123)", Kind.VOICE, ""),
        ("[红包]", Kind.RED_PACKET, ""),
        ("[语音通话]", Kind.CALL, ""),
        ('"阿梅" 拍了拍我', Kind.PAT, ""),
        ("Type: 11000 Content: xyz", Kind.OTHER, ""),
        ("> [引用]\n收到", Kind.QUOTE, "收到"),
        ("[旺柴] 收到", Kind.TEXT, "[旺柴] 收到"),
    ],
)
def test_chatlog_renderings_are_read_back(content, kind, text):
    assert chatlog_csv.kind_and_text(content) == (kind, text)


def test_live_pull_pages_through_every_chat(monkeypatch):
    monkeypatch.setattr(chatlog_api, "PAGE", 3)
    fake = FakeChatlog(CONTACTS, stored())
    with FakeChatlogServer(fake) as url:
        messages = list(chatlog_api.parse(url, ParseOptions()))
    newest_chat_first = sorted(stored(), key=lambda m: ["123@chatroom", "wxid_bo", "wxid_amei01"].index(m.talker))
    assert [(m.chat_id, m.timestamp) for m in messages] == [(m.talker, m.time.timestamp()) for m in newest_chat_first]
    assert len(messages) == len(stored())
    pages = [(r["talker"][0], r["offset"][0], r["limit"][0]) for r in fake.requests if r["path"] == ["/api/v1/chatlog"]]
    assert pages == [
        ("123@chatroom", "0", "3"),
        ("wxid_bo", "0", "3"),
        ("wxid_amei01", "0", "3"),
        ("wxid_amei01", "3", "3"),
        ("wxid_amei01", "6", "3"),
    ]
    assert {r["format"][0] for r in fake.requests} == {"json"}


def test_twin_train_data_reads_a_running_chatlog(tmp_path):
    with FakeChatlogServer(FakeChatlog(CONTACTS, stored())) as url:
        result = run_data(url, "--out", tmp_path / "out", "--dev-fraction", "0", "--allow", "阿梅")
    assert result.exit_code == 0, result.output
    (sample,) = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert [(t["role"], t["content"]) for t in sample["messages"][1:]] == [
        ("user", "周末去爬山吗"),
        ("assistant", "好啊"),
        ("user", "几点？"),
        ("assistant", "八点 [旺柴]"),
    ]
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["inputs"] == [{"path": url, "format": "chatlog-api", "messages": 7}]
    assert report["dropped"]["image"] == 1 and report["dropped"]["recall"] == 1


def test_live_pull_refuses_other_hosts_and_reports_chatlog_errors():
    with pytest.raises(UsageError, match="only read on this machine's loopback"):
        registry.resolve(["http://192.168.1.5:5030"], "auto", Diagnostics())
    not_ready = FakeChatlog(CONTACTS, stored(), state_error="database is decrypting, please wait")
    with (
        FakeChatlogServer(not_ready) as url,
        pytest.raises(ExportFormatError, match="chatlog answered 503: database is decrypting, please wait"),
    ):
        list(chatlog_api.parse(url, ParseOptions()))
    with pytest.raises(ExportFormatError, match=r"cannot reach chatlog .*is `chatlog server` running"):
        list(chatlog_api.parse(f"http://127.0.0.1:{free_port()}", ParseOptions()))
