"""PyWxDump CSV, MemoTrace's Chinese-header CSV, Telegram's result.json and the plain JSONL."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.training.formats.export_files import SHANGHAI, parse, write_csv
from wechat_twin.training.formats import jsonl, memotrace_zh, pywxdump, registry, telegram
from wechat_twin.training.formats.support.message import ExportFormatError, Kind

PYWXDUMP_HEADER = ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src", "CreateTime"]


def ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI).timestamp()


def test_pywxdump_keeps_quoted_reply_text_and_reads_excel_times(tmp_path):
    rows = [
        [1, "8790123456789012345", "文本", 0, "wxid_friend", "wxid_friend", "在吗", "", "2024-10-04 11:42:05"],
        [
            2,
            "8790123456789012346",
            "引用回复",
            1,
            "wxid_me",
            "wxid_friend",
            "在的 [旺柴]\n\n[引用](2024-10-04 11:42:05)小王:在吗",
            "",
            "2024/10/4 11:43",
        ],
        [3, "1", "图片", 1, "wxid_me", "wxid_friend", "图片", "FileStorage\\MsgAttach\\a.dat", "2024-10-04 11:44:00"],
        [4, "2", "转账", 0, "wxid_friend", "wxid_friend", "转账：￥5.00\n转账说明：奶茶\n", "", "2024-10-04 11:45:00"],
        [5, "3", "系统通知", 0, "未知", "wxid_friend", '"小王" 撤回了一条消息', "", "2024-10-04 11:46:00"],
        [6, "4", "消息撤回1", 0, "未知", "wxid_friend", "x", "", "2024-10-04 11:46:30"],
        [7, "5", "(分享)卡片式链接", 0, "wxid_friend", "wxid_friend", "title\ndes", "https://x", "2024-10-04 11:47:00"],
        [8, "6", "文本", 0, "wxid_a", "123@chatroom", "group text", "", "2024-10-04 11:48:00"],
        [9, "7", "文本", 0, "wxid_a", "123@chatroom", "bad time", "", "yesterday"],
    ]
    path = write_csv(tmp_path / "wxid_friend_0_10.csv", PYWXDUMP_HEADER, rows, encoding="utf-8")
    assert registry.detect(path) is pywxdump
    messages, options = parse(pywxdump, path)
    got = [(m.chat_id, m.sender_id, m.is_me, m.kind, m.text, m.is_group) for m in messages]
    assert got == [
        ("wxid_friend", "wxid_friend", False, Kind.TEXT, "在吗", False),
        ("wxid_friend", "wxid_me", True, Kind.QUOTE, "在的 [旺柴]", False),
        ("wxid_friend", "wxid_me", True, Kind.IMAGE, "", False),
        ("wxid_friend", "wxid_friend", False, Kind.TRANSFER, "", False),
        ("wxid_friend", "未知", False, Kind.RECALL, "", False),
        ("wxid_friend", "未知", False, Kind.RECALL, "", False),
        ("wxid_friend", "wxid_friend", False, Kind.LINK, "", False),
        ("123@chatroom", "wxid_a", False, Kind.TEXT, "group text", True),
    ]
    assert messages[1].timestamp == ts("2024-10-04 11:43:00")
    assert options.diagnostics.malformed_examples == [f"{path}:15: unreadable time 'yesterday'"]  # fields span lines


def test_pywxdump_missing_columns(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["id", "MsgSvrID", "type_name", "talker", "room_name", "msg"], [])
    with pytest.raises(ExportFormatError, match="missing required columns: is_sender, CreateTime"):
        parse(pywxdump, path)


ZH_HEADER = ["消息ID", "类型", "发送人", "时间", "内容", "备注", "昵称", "更多信息"]


def zh_file(tmp_path, name="小王"):
    rows = [
        ["1", "文本", "小王", "2025-03-01 09:00:00", "早", "小王", "wang", "more"],
        ["2", "引用消息", "Jay", "2025-03-01 09:00:10", "早啊~\n引用：小王: 早", "", "", "more"],
        ["3", "表情包", "Jay", "2025-03-01 09:00:20", "【表情包】 开心", "", "", "more"],
        ["4", "系统消息", "", "2025-03-01 09:00:30", "你已添加了小王，现在可以开始聊天了。", "", "", "more"],
        ["5", "拍一拍", "小王", "2025-03-01 09:00:40", '"小王" 拍了拍我', "小王", "wang", "more"],
        ["6", "文本", "Jay", "2025-03-01 09:01:00", "吃了吗 [旺柴]", "", "", "more"],
    ]
    return write_csv(tmp_path / f"{name}.csv", ZH_HEADER, rows)


def test_memotrace_zh_infers_the_owner_from_the_chat_name(tmp_path):
    path = zh_file(tmp_path)
    assert registry.detect(path) is memotrace_zh
    messages, options = parse(memotrace_zh, path)
    got = [(m.sender_name, m.is_me, m.kind, m.text) for m in messages]
    assert got == [
        ("小王", False, Kind.TEXT, "早"),
        ("Jay", True, Kind.QUOTE, "早啊~"),
        ("Jay", True, Kind.STICKER, ""),
        ("", False, Kind.SYSTEM, ""),
        ("小王", False, Kind.PAT, ""),
        ("Jay", True, Kind.TEXT, "吃了吗 [旺柴]"),
    ]
    assert any("owner taken to be 'Jay'" in w for w in options.diagnostics.warnings)


def test_memotrace_zh_needs_me_when_the_chat_name_does_not_tell(tmp_path):
    with pytest.raises(ExportFormatError, match=r"pass --me NAME \(speakers: Jay \(3\), 小王 \(2\)\)$"):
        parse(memotrace_zh, zh_file(tmp_path, "wang (1)"))
    messages, _ = parse(memotrace_zh, zh_file(tmp_path, "wang (1)"), me=("Jay",))
    assert sum(m.is_me for m in messages) == 3


def telegram_chat(chat_id: int = 42, type_: str = "personal_chat") -> dict:
    return {
        "name": "Alice",
        "type": type_,
        "id": chat_id,
        "messages": [
            {
                "id": 1,
                "type": "message",
                "date": "2024-01-01T10:00:00",
                "date_unixtime": "1704074400",
                "from": "Alice",
                "from_id": "user1",
                "text": "hi there",
            },
            {
                "id": 2,
                "type": "message",
                "date": "2024-01-01T10:00:30",
                "from": "Jay",
                "from_id": "user9",
                "text": ["see ", {"type": "link", "text": "https://t.me/x"}, " ok"],
            },
            {
                "id": 3,
                "type": "message",
                "date": "2024-01-01T10:01:00",
                "from": "Jay",
                "from_id": "user9",
                "photo": "photos/1.jpg",
                "text": "",
            },
            {
                "id": 4,
                "type": "message",
                "date": "2024-01-01T10:01:30",
                "from": "Alice",
                "from_id": "user1",
                "media_type": "sticker",
                "sticker_emoji": "😀",
                "text": "",
            },
            {
                "id": 5,
                "type": "service",
                "date": "2024-01-01T10:02:00",
                "actor": "Jay",
                "actor_id": "user9",
                "action": "phone_call",
                "text": "",
            },
            {
                "id": 6,
                "type": "message",
                "date": "2024-01-01T10:03:00",
                "from": "Alice",
                "from_id": "user1",
                "forwarded_from": "News",
                "text": "spam",
            },
            {"id": 7, "type": "message", "from": "Alice", "text": "no date"},
        ],
    }


def test_telegram_single_chat_needs_me(tmp_path):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(telegram_chat(), ensure_ascii=False, indent=1), encoding="utf-8")
    assert registry.detect(path) is telegram
    messages, options = parse(telegram, path)  # inferred: "Alice" is the chat's name
    got = [(m.sender_name, m.is_me, m.kind, m.text) for m in messages]
    assert got == [
        ("Alice", False, Kind.TEXT, "hi there"),
        ("Jay", True, Kind.TEXT, "see https://t.me/x ok"),
        ("Jay", True, Kind.IMAGE, ""),
        ("Alice", False, Kind.STICKER, ""),
        ("Jay", True, Kind.CALL, ""),
        ("Alice", False, Kind.FORWARD, ""),
    ]
    assert messages[0].timestamp == 1704074400
    assert messages[1].timestamp == ts("2024-01-01 10:00:30")
    assert options.diagnostics.malformed_count == 1
    assert not any(m.is_group for m in messages)


def test_telegram_photo_caption_is_kept_as_text_and_the_photo_dropped(tmp_path):
    chat = telegram_chat()
    chat["messages"][2]["text"] = ["at the top ", {"type": "bold", "text": "finally"}]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(chat, ensure_ascii=False), encoding="utf-8")
    messages, _ = parse(telegram, path)
    got = [(m.sender_name, m.kind, m.text) for m in messages if m.timestamp == ts("2024-01-01 10:01:00")]
    assert got == [("Jay", Kind.IMAGE, ""), ("Jay", Kind.TEXT, "at the top finally")]


def test_telegram_full_export_names_the_owner(tmp_path):
    export = {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": 9, "first_name": "Jay"},
        "chats": {"about": "", "list": [telegram_chat(), telegram_chat(77, "private_supergroup")]},
    }
    path = tmp_path / "result.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    assert registry.detect(path) is telegram
    messages, _ = parse(telegram, path)
    assert {m.chat_id for m in messages} == {"telegram:42", "telegram:77"}
    assert {m.sender_id for m in messages if m.is_me} == {"user9"}
    assert {m.is_group for m in messages if m.chat_id == "telegram:77"} == {True}


def test_jsonl_reads_seconds_milliseconds_and_iso_times(tmp_path):
    lines = [
        {"chat": "c1", "sender": "Ann", "is_me": False, "time": 1704074400, "text": "hi"},
        {"chat": "c1", "sender": "me", "is_me": True, "time": 1704074460000, "text": "yo [旺柴]"},
        {"chat": "c1", "sender": "me", "is_me": True, "time": "2024-01-01 10:02:00", "text": "local"},
        {"chat": "c1", "sender": "me", "is_me": True, "time": "2024-01-01T02:03:00Z", "text": "utc", "kind": "text"},
        {"chat": "c1", "sender": "Ann", "is_me": False, "time": 1704074600, "text": "", "kind": "image"},
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    body += '\n{"chat": "c1", "sender": "x", "is_me": "yes", "time": 1, "text": "t"}\nnot json\n\n'
    path = tmp_path / "messages.jsonl"
    path.write_text(body, encoding="utf-8")
    assert registry.detect(path) is jsonl
    messages, options = parse(jsonl, path)
    assert [m.timestamp for m in messages] == [
        1704074400,
        1704074460,
        ts("2024-01-01 10:02:00"),
        ts("2024-01-01 10:03:00"),
        1704074600,
    ]
    assert messages[4].kind is Kind.IMAGE
    assert options.diagnostics.malformed_examples == [
        f"{path}:6: is_me must be true or false",
        f"{path}:7: not JSON (Expecting value)",
    ]


def test_jsonl_of_another_shape_is_refused(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n', encoding="utf-8")
    assert registry.detect(path, at_least=registry.SURE) is None  # an earlier run's output in a folder
    assert registry.detect(path) is jsonl  # named on the command line: the precise error below
    with pytest.raises(ExportFormatError, match="JSONL lines need keys chat, sender, is_me, time, text"):
        parse(jsonl, path)
