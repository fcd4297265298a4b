"""Cleaning (what text is kept, how it is tidied) and the privacy filter (what is redacted)."""

from __future__ import annotations

import random
import re
import sys
import time

import pytest

from wechat_twin.training.dataset.clean import PYTHON_SPACE, clean, drop_duplicates
from wechat_twin.training.dataset.privacy import Redactor, compile_words, id_checksum_ok, load_word_list, luhn_ok
from wechat_twin.training.formats.support.message import Kind, Message
from wechat_twin.training.formats.support.table import concat, from_messages


def msg(text: str, kind: Kind = Kind.TEXT, ts: float = 0, is_me: bool = False, chat: str = "c") -> Message:
    return Message(chat, chat, "s", "s", is_me, ts, text, kind)


def reasons_and_texts(messages: list[Message], **limits) -> list[tuple[str, str]]:
    table, _ = clean(concat([from_messages(messages)]), **limits)
    return list(zip(table["reason"], table["text"], strict=True))


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("哈哈哈 [捂脸][旺柴]", "哈哈哈 [捂脸][旺柴]"),  # WeChat emoji codes are style
        ("[破涕为笑] 😂👍🏽", "[破涕为笑] 😂👍🏽"),
        ("看这个[图片]", "看这个"),
        ('[语音 3"] 听一下', "听一下"),
        ("[文件: 报告.pdf]", ""),
        ("【图片】【表情包】好", "好"),
        ("[动画表情]", ""),
        ("see https://example.com/a?b=1, ok", "see <link>, ok"),
        ("www.example.com。好的", "<link>。好的"),
        ("  @小王\u2005你好\r\n\r\n\r\n\r\n再见  ", "@小王 你好\n\n再见"),
        ("周末去爬山吗，\r\n带上相机\r第三行", "周末去爬山吗，\n带上相机\n第三行"),  # one line break, not two
        ("一\r二\u2005\u2005三\r\r\r四\r", "一\n二  三\n\n四"),  # old-Mac line ends; WeChat's @-mention space
    ],
)
def test_text_is_tidied_but_style_is_kept(text, kept):
    [(reason, tidied)] = reasons_and_texts([msg(text)])
    assert (reason, tidied if not reason else "") == (("", kept) if kept else ("empty", ""))


@pytest.mark.parametrize("text", ["\x1f\u3000 好的 \u00a0\n\u2029\n\x1c\n 再见\u202f", "a\n\x85\n\u205f\n\n\tb\x0b"])
def test_whitespace_is_pythons(text):
    """Tidying strips what `str.strip` strips and collapses what Python's `\\s` matches."""
    assert set(PYTHON_SPACE) == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}
    [(_, tidied)] = reasons_and_texts([msg(text)])
    assert tidied == re.sub(r"\n\s*\n\s*\n+", "\n\n", text).strip()


def test_links_are_counted_only_on_kept_messages():
    messages = [
        msg("https://a.example/x and https://b.example/y"),
        msg("https://c.example/" + "x" * 40 + " plus much more text than allowed here"),
    ]
    assert clean(concat([from_messages(messages)]), max_chars=30)[1] == 2


def test_drop_reasons():
    messages = [
        msg("", Kind.IMAGE),
        msg("", Kind.QUOTE),
        msg("reply", Kind.QUOTE),
        msg("   "),
        msg("x" * 11),
        msg("forwarded", chat="a"),
        msg("forwarded", chat="b"),
        msg("short"),
        msg("short"),  # short repeats are a person's habit, not spam
    ]
    reasons = [reason for reason, _ in reasons_and_texts(messages, max_chars=10, dedupe_min_chars=8)]
    assert reasons == ["image", "quote_without_text", "", "empty", "too_long", "", "repeated_text", "", ""]


def test_exact_duplicates_are_dropped_once_sorted():
    a, b, c = msg("hi", ts=1), msg("hi", ts=1), msg("hi", ts=1, is_me=True)
    d, e, f = msg("other", ts=1), msg("hi", ts=2), msg("hi", ts=1, chat="elsewhere")
    kept, dropped = drop_duplicates(concat([from_messages([a, d, b, c, e, f])]))
    assert kept["order"].to_list() == [0, 1, 3, 4, 5] and dropped == 1


VALID_ID = "11010519491231002X"
VALID_CARD = "6217001234567893"


def test_checksums():
    assert id_checksum_ok(VALID_ID) and not id_checksum_ok("110105194912310021")
    assert luhn_ok(VALID_CARD) and not luhn_ok("6217001234567890")


@pytest.mark.parametrize(
    ("text", "redacted", "kind"),
    [
        ("call 13800138000 now", "call <phone> now", "phone"),
        ("call +86 138-0013-8000", "call <phone>", "phone"),
        ("手机138 0013 8000", "手机<phone>", "phone"),
        ("座机 010-62345678 或 (0755)2345678", "座机 <phone> 或 <phone>", "phone"),
        (f"身份证{VALID_ID}。", "身份证<id>。", "id_number"),
        (f"卡号 {VALID_CARD} 谢谢", "卡号 <card> 谢谢", "bank_card"),
        ("卡号 6217 0012 3456 7893", "卡号 <card>", "bank_card"),
        ("mail me: a.b+c@example.co.uk!", "mail me: <email>!", "email"),
    ],
)
def test_identifiers_are_redacted_by_kind(text, redacted, kind):
    redactor = Redactor()
    assert redactor.redact(text) == redacted
    assert redactor.counts[kind] == redacted.count("<")


@pytest.mark.parametrize(
    "text",
    [
        "订单号 110105194912310021",  # ID-shaped, wrong checksum
        "order 6217001234567890",  # card-shaped, fails Luhn
        "2024-03-09 12:00:00",
        "1380013800 is ten digits",
        "version 12345678901234",
        "收到 520 元",
    ],
)
def test_numbers_that_are_not_identifiers_stay(text):
    redactor = Redactor()
    assert redactor.redact(text) == text
    assert not any(redactor.counts.values())


def test_no_privacy_keeps_numbers_but_still_applies_the_users_words():
    redactor = Redactor(enabled=False, words=compile_words(["Acme Corp", r"re:project\s+\w+"]))
    assert redactor.redact("13800138000 at acme corp on Project Falcon") == "13800138000 at <redacted> on <redacted>"
    assert redactor.counts["custom"] == 2


def test_word_list_file_and_drop_mode(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("\ufeff# secrets\n老地方\n\nre:暗号\\d+\n", encoding="utf-8")
    entries = load_word_list(path)
    assert entries == ["老地方", "re:暗号\\d+"]
    redactor = Redactor(words=compile_words(entries), mode="drop")
    assert redactor.should_drop("去老地方吗") and redactor.should_drop("暗号42")
    assert not redactor.should_drop("去新地方")
    assert redactor.redact("去老地方") == "去老地方"  # drop mode never rewrites


def test_a_bad_pattern_is_named():
    with pytest.raises(ValueError, match="bad pattern 're:\\(unclosed'"):
        compile_words(["fine", "re:(unclosed"])


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("a" * 40_000 + "@", "a" * 40_000 + "@"),  # a run of letters with no domain after its @
        ("@" + "a." * 20_000, "@" + "a." * 20_000),  # no local part, then a long dotted run
        ("x@" + "a-" * 20_000, "x@" + "a-" * 20_000),  # a domain that never reaches its dot
        ("a" * 40_000 + " mail a.b@example.com", "a" * 40_000 + " mail <email>"),
        ("a@b.cc " * 7_000, "<email> " * 7_000),
        ("a@b.cca@b.cc", "<email>@b.cc"),  # a domain's last letters are not the next address's local part
    ],
)
def test_a_friends_long_message_is_screened_for_e_mails_in_linear_time(text, redacted):
    """40k characters took 2.2 s with one regex that retried every start in the run (issue 27)."""
    started = time.perf_counter()
    assert Redactor().redact(text) == redacted
    assert time.perf_counter() - started < 0.5


def test_e_mails_are_the_spans_the_reference_pattern_finds():
    """The scanner from each `@` finds exactly the leftmost, non-overlapping spans the plain regex did."""
    reference = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
    rng = random.Random(27)
    for _ in range(20_000):
        text = "".join(rng.choice("ab.@-_ Z1%中") for _ in range(rng.randint(0, 16)))
        redactor = Redactor()
        assert redactor.redact(text) == reference.sub("<email>", text), text
        assert redactor.counts["email"] == len(reference.findall(text))
