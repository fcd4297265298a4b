"""MemoTrace CSV in every shape docs/formats.md documents (A–F), written the way each version wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.formats.export_files import (
    MEMOTRACE_BASE,
    MEMOTRACE_HEADER,
    T0,
    base_row,
    parse,
    shape_e,
    write_csv,
)
from wechat_twin.training.formats import memotrace, registry
from wechat_twin.training.formats.support.message import ExportFormatError, Kind, ParseOptions
from wechat_twin.training.formats.support.table import from_messages

SERVER_ID = "8790123456789012345"  # 19 digits: more than a float holds


def test_shape_a_0_2_6_has_no_speaker_and_says_groups_cannot_be_told(tmp_path):
    path = write_csv(
        tmp_path / "messages.csv",
        MEMOTRACE_BASE,
        [base_row(1, "3", False, T0, "在吗"), base_row(2, "3", True, T0 + 5, "在的 [旺柴]")],
        encoding="utf-8",
    )
    messages, options = parse(memotrace, path)
    assert [(m.chat_id, m.is_me, m.text, m.sender_name) for m in messages] == [
        ("3", False, "在吗", ""),
        ("3", True, "在的 [旺柴]", ""),
    ]
    assert messages[0].timestamp == T0
    assert any("0.2.6" in w and "cannot be told apart" in w for w in options.diagnostics.warnings)


def test_shape_b_rows_carry_an_unnamed_server_id(tmp_path):
    rows = [[*base_row(1, "3", False, T0, "hi"), SERVER_ID], [*base_row(2, "3", True, T0 + 1, "yo"), SERVER_ID]]
    messages, options = parse(memotrace, write_csv(tmp_path / "messages.csv", MEMOTRACE_BASE, rows, "utf-8"))
    assert [m.text for m in messages] == ["hi", "yo"]
    assert options.diagnostics.malformed_count == 0


def test_shape_c_shifted_columns_are_read_by_position(tmp_path):
    rows = [
        [*base_row(1, "3", False, T0, "one-to-one"), SERVER_ID, "王哥", "wang"],  # 12: remark, nickname
        [*base_row(2, "9", False, T0 + 1, "group hi"), SERVER_ID, "", "周末群", "阿强"],  # 13: + sender
        [*base_row(3, "9", True, T0 + 2, "group me"), SERVER_ID, "", "周末群", "我"],
        [*base_row(4, "5", False, T0 + 3, "unknown contact"), SERVER_ID],  # 10: contact not found
    ]
    messages, options = parse(memotrace, write_csv(tmp_path / "messages.csv", MEMOTRACE_HEADER, rows, "utf-8"))
    got = [(m.chat_id, m.chat_name, m.sender_name, m.is_group, m.text) for m in messages]
    assert got == [
        ("3", "王哥", "wang", False, "one-to-one"),
        ("9", "周末群", "阿强", True, "group hi"),
        ("9", "周末群", "我", True, "group me"),
        ("5", "", "", False, "unknown contact"),
    ]
    assert any("shifted" in w for w in options.diagnostics.warnings)


def test_shape_d_has_compress_content_after_the_server_id(tmp_path):
    rows = [
        [*base_row(1, "3", False, T0, "hello"), SERVER_ID, "", "王哥", "wang"],  # 13
        [*base_row(2, "3", True, T0 + 1, "", 49, 57), SERVER_ID, "b'\\x04\\x00'", "王哥", "wang"],
        [*base_row(3, "9", False, T0 + 2, "hey all"), SERVER_ID, "", "", "周末群", "阿强"],  # 14
    ]
    messages, _ = parse(memotrace, write_csv(tmp_path / "messages.csv", MEMOTRACE_HEADER, rows, "utf-8"))
    got = [(m.chat_name, m.sender_name, m.is_group, m.kind) for m in messages]
    assert got == [
        ("王哥", "wang", False, Kind.TEXT),
        ("王哥", "", False, Kind.QUOTE),
        ("周末群", "阿强", True, Kind.TEXT),
    ]
    assert messages[1].text == ""  # MemoTrace never writes a quoted reply's text


def test_shape_e_names_the_chat_and_the_speaker(tmp_path):
    path = shape_e(
        tmp_path / "messages.csv",
        [
            ("3", False, T0, "hi", "王哥", "wang", "wang"),
            ("3", True, T0 + 1, "hey", "王哥", "wang", ""),
            ("9", False, T0 + 2, "group", "", "周末群", "阿强"),
            ("9", False, T0 + 3, "left member", "", "周末群", ""),
        ],
    )
    messages, _ = parse(memotrace, path)
    got = [(m.chat_name, m.sender_name, m.is_me, m.is_group) for m in messages]
    assert got == [
        ("王哥", "wang", False, None),
        ("王哥", "我", True, None),
        ("周末群", "阿强", False, True),
        ("周末群", "", False, True),
    ]


def test_shape_f_per_chat_export_names_speakers_by_wxid(tmp_path):
    rows = [
        [*base_row(1, "3", False, T0, "hi"), "王哥", "wang", "wxid_friend01"],
        [*base_row(2, "3", True, T0 + 1, "hey"), "Jay", "Jay", "wxid_owner99"],
        base_row(3, "3", False, T0 + 2, "an old 1:1 row has no speaker fields"),
    ]
    path = write_csv(tmp_path / "王哥" / "王哥_utf8.csv", MEMOTRACE_HEADER, rows)
    messages, options = parse(memotrace, path)
    got = [(m.chat_name, m.sender_id, m.sender_name, m.is_me) for m in messages]
    assert got == [
        ("王哥", "wxid_friend01", "王哥", False),
        ("王哥", "wxid_owner99", "Jay", True),
        ("王哥", "", "", False),
    ]
    assert options.diagnostics.malformed_count == 0


def test_shape_f_is_told_from_e_by_the_owner_sender_even_when_renamed(tmp_path):
    rows = [[*base_row(1, "3", True, T0, "hey"), "", "Jay", "wxid_owner99"]]
    messages, _ = parse(memotrace, write_csv(tmp_path / "renamed.csv", MEMOTRACE_HEADER, rows))
    assert (messages[0].chat_name, messages[0].sender_name, messages[0].sender_id) == ("renamed", "Jay", "wxid_owner99")


@pytest.mark.parametrize(
    ("type_", "sub", "content", "kind"),
    [
        (3, 0, '<?xml version="1.0"?>\n<msg>\n<img md5="a"/>\n</msg>', Kind.IMAGE),
        (34, 0, "<msg><voicemsg/></msg>", Kind.VOICE),
        (43, 0, "<msg><videomsg/></msg>", Kind.VIDEO),
        (47, 0, "<msg><emoji/></msg>", Kind.STICKER),
        (48, 0, "<msg><location/></msg>", Kind.LOCATION),
        (50, 0, "<voipmsg/>", Kind.CALL),
        (49, 5, "", Kind.LINK),
        (49, 6, "", Kind.FILE),
        (49, 19, "", Kind.FORWARD),
        (49, 57, "", Kind.QUOTE),
        (49, 2000, "", Kind.TRANSFER),
        (49, 2001, "", Kind.RED_PACKET),
        (49, 62, "", Kind.PAT),
        (10000, 0, '"小王" 撤回了一条消息', Kind.RECALL),
        (10000, 0, "<revokemsg>你撤回了一条消息</revokemsg>", Kind.RECALL),
        (10000, 4, '"小王" 拍了拍我', Kind.PAT),
        (10000, 0, "你领取了小王的红包", Kind.RED_PACKET),
        (10000, 0, "你已添加了小王，现在可以开始聊天了。", Kind.SYSTEM),
        (10000, 8000, '"A"邀请"B"加入了群聊', Kind.SYSTEM),
        (11000, 0, "", Kind.OTHER),
    ],
)
def test_types_are_labelled(tmp_path, type_, sub, content, kind):
    path = shape_e(tmp_path / "messages.csv", [("3", False, T0, content, "", "wang", "wang", type_, sub)])
    (message,), _ = parse(memotrace, path)
    assert message.kind is kind
    assert message.text == ""


def test_fields_with_newlines_commas_quotes_and_emoji_survive(tmp_path):
    text = '第一行, "引号"\n第二行 👍🏽 👨‍👩‍👧 [捂脸]\n@小王\u2005你好'
    path = shape_e(tmp_path / "messages.csv", [("3", False, T0, text, "", 'Jay, "J"', 'Jay, "J"')])
    assert b"\r\n" in path.read_bytes()
    (message,), _ = parse(memotrace, path)
    assert message.text == text
    assert message.chat_name == 'Jay, "J"'


def test_utf8_without_bom_and_gbk_read_the_same(tmp_path):
    rows = [("3", False, T0, "今天吃什么 [旺柴]", "", "小王", "小王")]
    for encoding in ("utf-8", "utf-8-sig", "gbk"):
        (message,), _ = parse(memotrace, shape_e(tmp_path / f"{encoding}.csv", rows, encoding))
        assert message.text == "今天吃什么 [旺柴]"
        assert registry.detect(tmp_path / f"{encoding}.csv") is memotrace


def test_malformed_rows_are_skipped_with_their_line_numbers(tmp_path):
    good = shape_e(tmp_path / "good.csv", [("3", False, T0, "line one\nline two", "", "w", "w")])
    with open(good, "a", encoding="utf-8", newline="") as f:
        f.write("2,3,1,0,0,not-a-time,0,bad time,x,,w,w\r\n")  # line 4 (row 1 spans lines 2-3)
        f.write("3,3,1,0,0\r\n")  # line 5: too few fields
        f.write(f"4,3,1,0,1,{T0 + 9},2,fine,x,,w,我\r\n")
    messages, options = parse(memotrace, good)
    assert [m.text for m in messages] == ["line one\nline two", "fine"]
    assert options.diagnostics.malformed_count == 2
    first, second = options.diagnostics.malformed_examples
    assert first.startswith(f"{good}:4: CreateTime")
    assert second.startswith(f"{good}:5: 5 fields")


def test_missing_required_columns_name_them(tmp_path):
    header = [c for c in MEMOTRACE_HEADER if c not in ("IsSender", "CreateTime")]
    path = write_csv(tmp_path / "broken.csv", header, [["1", "3", "1", "0", "2", "hi", "x", "", "w", "w"]])
    assert registry.detect(path, at_least=registry.SURE) is None  # inside a folder: skipped
    assert registry.detect(path) is memotrace  # named on the command line: the precise error below
    with pytest.raises(ExportFormatError, match="missing required columns: IsSender, CreateTime"):
        parse(memotrace, path)


def _native_equals_rows(path: Path) -> None:
    table = memotrace.read_table(path, ParseOptions())
    assert table is not None, "the native reader should take this file"
    messages, options = parse(memotrace, path)
    assert table.equals(from_messages(messages), null_equal=True)
    assert options.diagnostics.malformed_count == 0


def test_the_native_reader_reads_shape_e_as_the_row_reader_does(tmp_path):
    kinds = [
        ("3", False, T0 + i, content, "", "wang", "wang", type_, sub)
        for i, (type_, sub, content) in enumerate(
            [
                (3, 0, '<?xml version="1.0"?>\n<msg>\n<img md5="a"/>\n</msg>'),
                (49, 57, ""),
                (49, 2001, ""),
                (10000, 0, '"小王" 撤回了一条消息'),
                (10000, 4, '"小王" 拍了拍我'),
                (11000, 0, ""),
                # notices are classified once per wording: repeats and other wordings between them
                (10000, 0, "你领取了小王的红包"),
                (10000, 4, '"小王" 拍了拍我'),
                (10000, 0, '"小王" 撤回了一条消息'),
                (10000, 0, "你已添加了小王，现在可以开始聊天了。"),
                (10000, 4, '"小王" 撤回了一条消息'),
                (10000, 0, "你领取了小王的红包"),
            ]
        )
    ]
    rows = [
        ("3", False, T0 - 9, '第一行, "引号"\n第二行 👍🏽 👨‍👩‍👧 [捂脸]\n@小王\u2005你好', "", 'Jay, "J"', 'Jay, "J"'),
        ("3", False, T0 - 9, "windows\r\nline ends\rand a lone CR", "", "wang", "wang"),
        ("3", True, T0 - 8, "hey", "王哥", "wang", ""),
        ("9", False, T0 - 7, "group", "", "周末群", "阿强"),
        ("9", False, T0 - 6, "left member", "", "周末群", ""),
        ("9", True, T0 - 5, "", "", "周末群", ""),
        *kinds,
    ]
    _native_equals_rows(shape_e(tmp_path / "messages.csv", rows))
    _native_equals_rows(shape_e(tmp_path / "no-bom.csv", rows, "utf-8"))


def test_the_native_reader_reads_shape_f_as_the_row_reader_does(tmp_path):
    rows = [
        [*base_row(1, "3", False, T0, "hi\nthere"), "王哥", "wang", "wxid_friend01"],
        [*base_row(2, "3", True, T0 + 1, "hey"), "", "Jay", "wxid_owner99"],
    ]
    _native_equals_rows(write_csv(tmp_path / "王哥" / "王哥_utf8.csv", MEMOTRACE_HEADER, rows))


def test_files_the_native_reader_cannot_vouch_for_go_to_the_row_reader(tmp_path):
    malformed = shape_e(tmp_path / "bad.csv", [("3", False, T0, "line one\nline two", "", "w", "w")])
    with open(malformed, "a", encoding="utf-8", newline="") as f:
        f.write("2,3,1,0,0,not-a-time,0,bad time,x,,w,w\r\n")
        f.write(f"3,3,1,0,1,{T0 + 9},2,short row,x,\r\n")
    old_f = write_csv(tmp_path / "old_utf8.csv", MEMOTRACE_HEADER, [base_row(1, "3", False, T0, "9 fields")])
    gbk = shape_e(tmp_path / "gbk.csv", [("3", False, T0, "今天吃什么", "", "小王", "小王")], "gbk")
    shifted = write_csv(
        tmp_path / "c.csv", MEMOTRACE_HEADER, [[*base_row(1, "3", False, T0, "hi"), SERVER_ID, "王哥", "wang"]]
    )
    for path in (malformed, old_f, gbk, shifted):
        assert memotrace.read_table(path, ParseOptions()) is None, path.name
    options = ParseOptions()
    table = registry.read_table(malformed, memotrace, options)
    assert table["text"].to_list() == ["line one\nline two"]
    assert [e.split(": ")[0] for e in options.diagnostics.malformed_examples] == [f"{malformed}:4", f"{malformed}:5"]
