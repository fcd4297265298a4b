"""`twin-train data --redact-names`: the contacts' names the export carries are replaced on both sides, other text
is left alone, and the count is reported; without the option nothing changes (test_import_unchanged pins the bytes)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.training.formats.export_files import T0, read_jsonl, run_data, shape_e
from wechat_twin.training.dataset.privacy import Redactor, compile_names, name_forms

# MemoTrace: the chat is the remark 王磊, the friend's messages carry his nickname 磊子.
MEMOTRACE_TEXTS = [
    ("王磊，明天打球吗", "磊子你又迟到 哈哈"),
    ("Bob说他也来", "告诉Bob带球, Bobby不用"),
    ("小美呢？陈小美也来", "问小美吧"),
]


def _texts(folder: Path) -> list[tuple[str, str]]:
    return [
        (s["messages"][i]["content"], s["messages"][i + 1]["content"])
        for s in read_jsonl(folder / "train.jsonl") + read_jsonl(folder / "dev.jsonl")
        for i in range(1, len(s["messages"]), 2)
    ]


def _memotrace(folder: Path) -> Path:
    rows = []
    for i, (friend, owner) in enumerate(MEMOTRACE_TEXTS):
        rows.append(("7", False, T0 + 7200 * i, friend, "王磊", "磊子", "磊子"))
        rows.append(("7", True, T0 + 7200 * i + 60, owner, "王磊", "磊子", "磊子"))
    for i in range(3):
        rows.append(("8", False, T0 + 7200 * i, f"hi {i}", "", "陈小美", "陈小美"))
        rows.append(("8", True, T0 + 7200 * i + 60, f"yo {i}", "", "陈小美", "陈小美"))
        rows.append(("9", False, T0 + 7200 * i, f"sup {i}", "", "Bob", "Bob"))
        rows.append(("9", True, T0 + 7200 * i + 60, f"ok {i}", "", "Bob", "Bob"))
    return shape_e(folder / "messages.csv", rows)


def test_memotrace_remark_and_nickname_are_replaced_on_both_sides(tmp_path: Path) -> None:
    export = _memotrace(tmp_path)
    result = run_data(export, "--out", tmp_path / "named", "--dev-fraction", "0", "--redact-names")
    assert result.exit_code == 0, result.output
    assert _texts(tmp_path / "named")[:3] == [
        ("<name>，明天打球吗", "<name>你又迟到 哈哈"),  # the remark, and the nickname, on each side
        ("<name>说他也来", "告诉<name>带球, Bobby不用"),  # another contact's name; Bobby is another word
        ("<name>呢？<name>也来", "问<name>吧"),  # 陈小美 whole, and 小美 the way friends write it
    ]
    report = json.loads((tmp_path / "named" / "report.json").read_text())
    assert report["redactions"]["name"] == 7
    assert report["settings"]["redact_names"] is True

    plain = run_data(export, "--out", tmp_path / "plain", "--dev-fraction", "0")
    assert plain.exit_code == 0, plain.output
    assert _texts(tmp_path / "plain")[:3] == MEMOTRACE_TEXTS
    report = json.loads((tmp_path / "plain" / "report.json").read_text())
    assert "name" not in report["redactions"] and "redact_names" not in report["settings"]


def _weflow(folder: Path, wxid: str, display: str, sender: str, pairs: list[tuple[str, str]]) -> None:
    messages = []
    for i, (friend, owner) in enumerate(pairs):
        for is_send, text, at in ((0, friend, 0), (1, owner, 60)):
            messages.append(
                {
                    "localId": 2 * i + is_send,
                    "createTime": T0 + 7200 * i + at,
                    "localType": 1,
                    "content": text,
                    "isSend": is_send,
                    "senderUsername": "me" if is_send else wxid,
                    "senderDisplayName": "我" if is_send else sender,
                }
            )
    session = {"wxid": wxid, "displayName": display, "type": "私聊"}
    (folder / f"{wxid}.json").write_text(json.dumps({"weflow": {}, "session": session, "messages": messages}))


def test_weflow_display_and_sender_names_are_replaced_on_both_sides(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    _weflow(export, "wxid_may", "阿May", "May", [("阿May在吗", "在的 May"), ("我是May", "mayday 不变")])
    _weflow(export, "wxid_tom", "Tom Chen", "Tom", [("hi", "Tom Chen 和 Tom 都是你"), ("tomorrow?", "ok")])
    result = run_data(export, "--out", tmp_path / "named", "--dev-fraction", "0", "--redact-names")
    assert result.exit_code == 0, result.output
    assert sorted(_texts(tmp_path / "named")) == sorted(
        [
            ("<name>在吗", "在的 <name>"),
            ("我是<name>", "mayday 不变"),  # a name inside a longer Latin word stays
            ("hi", "<name> 和 <name> 都是你"),
            ("tomorrow?", "ok"),
        ]
    )


def test_name_forms_are_longest_first_and_skip_one_character_names() -> None:
    assert name_forms(["陈小美", "王", "Bo", " Lily "]) == ["Lily", "陈小美", "Bo", "小美"]
    assert compile_names([]) is None
    redactor = Redactor(enabled=False)
    redactor.use_names(["phone", "Lily"])
    assert redactor.redact("Lily's <phone>, phone Lily") == "<name>'s <phone>, <name> <name>"
