"""ChatLab JSON and JSONL as WeFlow writes them: no owner flag, so `--me` or inference, said aloud."""

from __future__ import annotations

import json

import pytest

from tests.training.formats.export_files import parse, read_jsonl, run_data
from wechat_twin.training.formats import chatlab, registry
from wechat_twin.training.formats.support.message import ExportFormatError, Kind

HEADER = {"version": "0.0.2", "exportedAt": 1762171000, "generator": "WeFlow"}


def member(wxid: str, name: str) -> dict:
    return {"platformId": wxid, "accountName": name}


def message(sender: str, name: str, t: int, type_: int, content: str, **extra) -> dict:
    return {"sender": sender, "accountName": name, "timestamp": t, "type": type_, "content": content, **extra}


def private_chat(friend: str, friend_name: str, t: int = 1762171445) -> tuple[dict, list[dict], list[dict]]:
    meta = {"name": friend_name, "platform": "wechat", "type": "private"}
    members = [member(friend, friend_name), member("wxid_me123", "Jay")]
    messages = [
        message(friend, friend_name, t, 0, "周末去爬山吗", platformMessageId="7301234567890123456"),
        message("wxid_me123", "Jay", t + 60, 25, "好啊[引用 阿梅：周末去爬山吗]"),
        message(friend, friend_name, t + 70, 1, "[图片]"),
        message(friend, friend_name, t + 80, 80, '"阿梅" 拍了拍我'),
        message(friend, friend_name, t + 90, 99, "[转账]￥20.00"),
        message("wxid_me123", "Jay", t + 120, 0, "八点见 [旺柴]"),
    ]
    return meta, members, messages


def write_json(path, meta, members, messages):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"chatlab": HEADER, "meta": meta, "members": members, "messages": messages}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def write_jsonl(path, meta, members, messages):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [{"_type": "header", "chatlab": HEADER, "meta": meta}]
    lines += [{"_type": "member", **m} for m in members] + [{"_type": "message", **m} for m in messages]
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines), encoding="utf-8")
    return path


def test_jsonl_and_json_read_the_same_with_me(tmp_path):
    chat = private_chat("wxid_amei01", "阿梅")
    for path in (write_jsonl(tmp_path / "a" / "阿梅.jsonl", *chat), write_json(tmp_path / "b" / "阿梅.json", *chat)):
        assert registry.detect(path) is chatlab
        messages, options = parse(chatlab, path, me=("Jay",))
        got = [(m.sender_id, m.is_me, m.kind, m.text) for m in messages]
        assert got == [
            ("wxid_amei01", False, Kind.TEXT, "周末去爬山吗"),
            ("wxid_me123", True, Kind.QUOTE, "好啊"),
            ("wxid_amei01", False, Kind.IMAGE, ""),
            ("wxid_amei01", False, Kind.PAT, ""),
            ("wxid_amei01", False, Kind.TRANSFER, ""),
            ("wxid_me123", True, Kind.TEXT, "八点见 [旺柴]"),
        ]
        assert messages[0].timestamp == 1762171445
        assert {(m.chat_name, m.is_group) for m in messages} == {("阿梅", False)}
        assert not options.diagnostics.warnings


def test_the_owner_is_the_one_sender_in_every_one_to_one_chat(tmp_path):
    write_jsonl(tmp_path / "阿梅.jsonl", *private_chat("wxid_amei01", "阿梅"))
    write_jsonl(tmp_path / "Bo.jsonl", *private_chat("wxid_bo", "Bo"))
    meta = {"name": "徒步群", "platform": "wechat", "type": "group", "groupId": "123@chatroom"}
    group = [message("wxid_lao", "老张", 1762171445, 0, "谁去"), message("wxid_me123", "Jay", 1762171500, 0, "我")]
    path = write_jsonl(tmp_path / "徒步群.jsonl", meta, [], group)
    messages, options = parse(chatlab, path)
    assert [(m.sender_id, m.is_me) for m in messages] == [("wxid_lao", False), ("wxid_me123", True)]
    assert {(m.chat_id, m.is_group) for m in messages} == {("123@chatroom", True)}
    assert options.diagnostics.warnings == [
        f"{tmp_path}: ChatLab owner taken to be Jay (wxid_me123), the one sender in every one-to-one chat "
        "(pass --me NAME to say otherwise)"
    ]


def test_a_lone_chat_infers_the_owner_from_its_name_and_a_group_alone_asks(tmp_path):
    path = write_json(tmp_path / "阿梅.json", *private_chat("wxid_amei01", "阿梅"))
    messages, options = parse(chatlab, path)
    assert {m.sender_id for m in messages if m.is_me} == {"wxid_me123"}
    assert any("owner taken to be 'Jay'" in w for w in options.diagnostics.warnings)
    meta = {"name": "徒步群", "type": "group"}
    lone_group = write_json(tmp_path / "g" / "群.json", meta, [], [])
    with pytest.raises(ExportFormatError, match=r"ChatLab does not mark the owner: pass --me NAME"):
        parse(chatlab, lone_group)


def test_a_chatlab_folder_becomes_a_dataset_and_the_jsonl_reader_does_not_claim_it(tmp_path):
    write_jsonl(tmp_path / "in" / "阿梅.jsonl", *private_chat("wxid_amei01", "阿梅"))
    write_jsonl(tmp_path / "in" / "Bo.jsonl", *private_chat("wxid_bo", "Bo", 1762181445))
    assert registry.FORMATS["jsonl"].detect(tmp_path / "in" / "Bo.jsonl") > 0  # a .jsonl: it half-matches
    result = run_data(tmp_path / "in", "--out", tmp_path / "out", "--dev-fraction", "0")
    assert result.exit_code == 0, result.output
    samples = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert [s["messages"][-1]["content"] for s in samples] == ["好啊\n八点见 [旺柴]"] * 2  # one burst
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert {i["format"] for i in report["inputs"]} == {"chatlab"}
    assert any("ChatLab owner taken to be Jay" in w for w in report["warnings"])


def test_a_broken_jsonl_line_is_named(tmp_path):
    path = write_jsonl(tmp_path / "阿梅.jsonl", *private_chat("wxid_amei01", "阿梅"))
    with open(path, "a", encoding="utf-8") as f:
        f.write('\n{"_type": "message", "sender": "wxid_amei01", "timestamp": "soon", "type": 0}\n{oops\n')
    messages, options = parse(chatlab, path, me=("Jay",))
    assert len(messages) == 6
    assert options.diagnostics.malformed_examples == [
        f"{path}:11: not JSON (Expecting property name enclosed in double quotes)",  # read first
        f"{path}:10: timestamp is 'soon', not a number",
    ]
