"""WechatExporter TXT, written with its text templates (res/templates_txt) and zh-Hans strings."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.training.formats.export_files import SHANGHAI, parse
from wechat_twin.training.formats import registry, wechatexporter
from wechat_twin.training.formats.support.message import ExportFormatError, Kind

RULE = "- - - - - - - - - - - - - - -"

ONE_TO_ONE = "\n".join(
    [
        "张三 - 微信聊天记录",
        "",
        "张三 (2024-03-09 12:00:00):在吗",
        "Jay (2024-03-09 12:00:30):在的~",
        "第二行 [旺柴]",
        '"张三" 撤回了一条消息',
        "张三 (2024-03-09 12:01:00):[图片]",
        "张三 (2024-03-09 12:01:10):微信转账 ￥520.00 - 已收款\r",  # the memo follows after \r\n, unterminated
        "生日快乐Jay (2024-03-09 12:02:00):谢谢 [捂脸]",
        "「张三：在吗",
        "还在吗」",
        RULE,
        "回复一下",
        "继续",
        "张三 (2024-03-09 12:03:00):好的",
        'System Message: "张三" 拍了拍我',
        "张三 (2024-03-09 12:04:00):",
        '张三 (2024-03-09 12:04:30):[语音 3"]',
        "Jay (2024-03-09 12:05:00):群聊的聊天记录",
        "<< 群聊的聊天记录",
        "李四 (2024-03-01 10:00:00):inner message",
        "Jay (2024-03-01 10:01:00):inner owner",
        "群聊的聊天记录 结束 >>",
        "张三 (2024-03-09 12:05:40):微信转账 ￥8.00 - 已收款Jay (2024-03-09 12:06:00):ok",
        "",
    ]
)


def write(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def at(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI).timestamp()


def test_one_to_one_chat_reads_every_line_shape(tmp_path):
    path = write(tmp_path, "张三.txt", ONE_TO_ONE)
    assert registry.detect(path) is wechatexporter
    messages, options = parse(wechatexporter, path, me=("Jay",))
    got = [(m.sender_name, m.is_me, m.kind, m.text) for m in messages]
    assert got == [
        ("张三", False, Kind.TEXT, "在吗"),
        ("Jay", True, Kind.TEXT, "在的~\n第二行 [旺柴]"),
        ("", False, Kind.RECALL, ""),
        ("张三", False, Kind.IMAGE, ""),
        ("张三", False, Kind.TRANSFER, ""),  # its memo line stays with it
        ("Jay", True, Kind.TEXT, "谢谢 [捂脸]"),  # cut off the memo it was glued to
        ("Jay", True, Kind.QUOTE, "回复一下\n继续"),  # quoted the friend: the owner replied
        ("张三", False, Kind.TEXT, "好的"),
        ("", False, Kind.PAT, ""),
        ("张三", False, Kind.RED_PACKET, ""),  # an empty body is a red packet
        ("张三", False, Kind.VOICE, ""),
        ("Jay", True, Kind.FORWARD, ""),  # the forwarded chat's inner lines are not this chat's
        ("张三", False, Kind.TRANSFER, ""),
        ("Jay", True, Kind.TEXT, "ok"),  # glued onto the transfer's line
    ]
    assert messages[0].timestamp == at("2024-03-09 12:00:00")
    assert messages[6].timestamp == at("2024-03-09 12:02:00")  # a quoted reply is timed like the one before
    assert {m.chat_name for m in messages} == {"张三"}
    assert not any(m.is_group for m in messages)
    assert options.diagnostics.malformed_count == 0


def test_owner_is_inferred_from_a_one_to_one_chat_and_said_so(tmp_path):
    messages, options = parse(wechatexporter, write(tmp_path, "张三.txt", ONE_TO_ONE))
    assert {m.sender_name for m in messages if m.is_me} == {"Jay"}
    assert any("owner taken to be 'Jay'" in w for w in options.diagnostics.warnings)


GROUP = "\n".join(
    [
        "周末群 - 微信聊天记录",
        "",
        "阿强 (2024-03-09 12:00:00):打球吗",
        "Sunny (2024-03-09 12:00:10):去",
        "Jay (2024-03-09 12:00:20):go go~",
        '"阿强"邀请"Ben"加入了群聊',
        "「Sunny：去」",
        RULE,
        "+1",
        "wxid_abc123 (2024-03-09 12:01:00):我也去",
        "",
    ]
)


def test_group_without_me_lists_the_candidates_with_counts(tmp_path):
    path = write(tmp_path, "周末群.txt", GROUP)
    with pytest.raises(ExportFormatError, match=r"pass --me NAME \(speakers: Jay \(1\), Sunny \(1\)"):
        parse(wechatexporter, path)


def test_group_quote_cannot_be_attributed(tmp_path):
    messages, _ = parse(wechatexporter, write(tmp_path, "周末群.txt", GROUP), me=("Jay",))
    assert [(m.sender_name, m.kind) for m in messages] == [
        ("阿强", Kind.TEXT),
        ("Sunny", Kind.TEXT),
        ("Jay", Kind.TEXT),
        ("", Kind.SYSTEM),
        ("", Kind.UNATTRIBUTED),
        ("wxid_abc123", Kind.TEXT),
    ]
    assert all(m.is_group for m in messages)


def test_gbk_file_and_old_templates(tmp_path):
    text = "\n".join(
        [
            "小红 - 微信聊天记录",
            "",
            "小红 (2022-01-01 10:00:00):新年快乐",
            "Jay 2022-01-01 10:00:05:一篇文章的标题",  # v1.9 plainshare: no parentheses
            "系统消息：你已添加了小红",
            "Jay (2022-01-01 10:01:00):同乐 [耶]",
            "",
        ]
    )
    messages, _ = parse(wechatexporter, write(tmp_path, "小红.txt", text, "gbk"), me=("Jay",))
    assert [(m.sender_name, m.kind, m.text) for m in messages] == [
        ("小红", Kind.TEXT, "新年快乐"),
        ("Jay", Kind.LINK, ""),
        ("", Kind.SYSTEM, ""),
        ("Jay", Kind.TEXT, "同乐 [耶]"),
    ]


def test_text_before_any_message_is_reported_as_malformed(tmp_path):
    text = "小红 - 微信聊天记录\n\nstray line\n小红 (2022-01-01 10:00:00):hi\nJay (2022-01-01 10:00:01):yo\n"
    messages, options = parse(wechatexporter, write(tmp_path, "小红.txt", text), me=("Jay",))
    assert len(messages) == 2
    assert options.diagnostics.malformed_examples == [f"{tmp_path / '小红.txt'}:3: text outside any message"]


def test_a_notice_before_the_first_message_is_a_system_notice(tmp_path):
    invite = '"小红"邀请你和"小明"加入了群聊，群聊参与人还有：小李、小王'
    text = f"周末群 - 微信聊天记录\n\n{invite}\n小红 (2022-01-01 10:00:00):hi\nJay (2022-01-01 10:00:05):yo\n"
    messages, options = parse(wechatexporter, write(tmp_path, "周末群.txt", text), me=("Jay",))
    assert [(m.sender_name, m.kind, m.text, m.timestamp) for m in messages] == [
        ("", Kind.SYSTEM, "", at("2022-01-01 10:00:00")),
        ("小红", Kind.TEXT, "hi", at("2022-01-01 10:00:00")),
        ("Jay", Kind.TEXT, "yo", at("2022-01-01 10:00:05")),
    ]
    assert options.diagnostics.malformed_count == 0


def test_plain_text_files_are_not_taken_for_exports(tmp_path):
    assert registry.detect(write(tmp_path, "notes.txt", "shopping list\nmilk (2 bottles)\n")) is None


def test_thousands_of_unclosed_forward_openings_are_read_in_linear_time(tmp_path):
    """4,000 `<< a` lines a friend sent took 19 s when each one scanned ahead for its close (issue 27)."""
    text = "\n".join(
        ["张三 - 微信聊天记录", "张三 (2024-03-09 12:00:00):在吗", "Jay (2024-03-09 12:00:30):在的", *["<< a"] * 4_000]
    )
    started = time.perf_counter()
    messages, _ = parse(wechatexporter, write(tmp_path, "张三.txt", text), me=("Jay",))
    assert time.perf_counter() - started < 0.5
    assert [m.text for m in messages] == ["在吗", "在的" + "\n<< a" * 4_000]  # unclosed: continuation lines


def test_nested_forwarded_blocks_of_one_title_close_at_their_own_end(tmp_path):
    text = "\n".join(
        [
            "张三 - 微信聊天记录",
            "Jay (2024-03-09 12:00:00):看这个",
            "<< a",
            "<< a",
            "李四 (2024-03-01 10:00:00):inner",
            "a 结束 >>",
            "<< b",
            "a 结束 >>",  # closes the outer `a`; `<< b` inside it is never closed
            "张三 (2024-03-09 12:01:00):好",
            "<< a",  # unclosed: a plain continuation line
        ]
    )
    messages, _ = parse(wechatexporter, write(tmp_path, "张三.txt", text), me=("Jay",))
    assert [(m.sender_name, m.kind, m.text) for m in messages] == [
        ("Jay", Kind.FORWARD, ""),
        ("张三", Kind.TEXT, "好\n<< a"),
    ]
