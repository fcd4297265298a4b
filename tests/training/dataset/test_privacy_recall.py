"""The privacy filter against numbers as people really type them: every phone-number spelling in
one table, next to the dates, times, prices, train, order and parcel numbers that must survive.

Each row is (text as sent in a chat, what the filter must make of it); a row whose two sides are
equal must come through untouched and count nothing.
"""

from __future__ import annotations

import pytest

from wechat_twin.training.dataset.privacy import Redactor

VALID_ID = "11010519491231002X"  # GB 11643 checksum holds
VALID_CARD = "6217001234567893"  # Luhn holds

REDACTED = [
    # mobile numbers
    ("我手机13800138000", "我手机<phone>"),
    ("打我电话 139 1234 5678", "打我电话 <phone>"),
    ("电话：186-1234-5678，晚上打", "电话：<phone>，晚上打"),
    ("新号 150.1234.5678", "新号 <phone>"),
    ("1381 234 5678 是他的", "<phone> 是他的"),
    ("+86 138 0013 8000", "<phone>"),
    ("+8613800138000", "<phone>"),
    ("+86-138-0013-8000 whatsapp", "<phone> whatsapp"),
    ("0086 13800138000", "<phone>"),
    ("(+86) 177 0000 1111", "<phone>"),
    ("(86)17700001111", "<phone>"),
    ("手机号１３８００１３８０００", "手机号<phone>"),
    ("＋８６ １３８ ００１３ ８０００", "<phone>"),
    ("号码138－0013－8000　好", "号码<phone>　好"),  # ASCII digits, full-width dashes and space
    ("找199 9999 0000，说是我朋友", "找<phone>，说是我朋友"),
    ("号码是16612345678吗", "号码是<phone>吗"),
    ("Tel: 147-1234-5678", "Tel: <phone>"),
    ("两个号 13800138000 / 13900139000", "两个号 <phone> / <phone>"),
    # landlines
    ("座机 010-6555 1234", "座机 <phone>"),
    ("(021) 5555-1234 前台", "<phone> 前台"),
    ("+86 10 6555 1234", "<phone>"),
    ("公司电话010-65551234", "公司电话<phone>"),
    ("打 0755-8888 6666 转 801", "打 <phone> 转 801"),
    ("(0755)2345678", "<phone>"),
    ("（０２１）５５５５－１２３４", "<phone>"),
    ("0571 8765 4321", "<phone>"),
    ("020.8888.6666", "<phone>"),
    ("+86-755-8888-6666", "<phone>"),
    ("0086 21 5555 1234", "<phone>"),
    ("+86 (21) 5555 1234", "<phone>"),
    ("家里 0591-2345678", "家里 <phone>"),
    ("酒店总机(028)8765-4321", "酒店总机<phone>"),
    # identifiers with checksums
    (f"身份证号{VALID_ID}", "身份证号<id>"),
    (f"卡号 {VALID_CARD}", "卡号 <card>"),
    ("卡号 6217 0012 3456 7893 户名小王", "卡号 <card> 户名小王"),
    ("6217-0012-3456-7893", "<card>"),
    ("mail: wang.xiao@example.cn", "mail: <email>"),
]

KEPT = [
    # dates and times
    "2024-03-09 12:00:00",
    "2024.03.09 见",
    "20240309 的报告",
    "2024/3/9 下午",
    "周六 09:00-18:00 上班",
    "12:30:45 到",
    "会议 2024-10-01~2024-10-07 放假",
    "2023-2024 赛季",
    # prices and amounts
    "¥138.00 包邮",
    "1,380,000 元的房子",
    "转你 13800.50",
    "$1,234.56 total",
    "一共 1380 元",
    "收到 520 元",
    # train, flight and ticket numbers
    "G1234 次 08:05 发车",
    "坐 D2281 回去",
    "K1375 硬卧 13车 08号",
    "航班 CA1831 13:45 起飞",
    # order and parcel numbers
    "订单号 2034567890123456789",
    "京东订单 300123456789",
    "顺丰 SF1380013800012 已签收",
    "圆通 YT2345678901234",
    "中通 78123456789012",
    "EMS EA123456789CN",
    "JDVA13800138000 到了",
    # checksums that fail
    "订单号 110105194912310021",
    "order 6217001234567890",
    # other digit runs
    "1380013800 is ten digits",
    "version 12345678901234",
    "192.168.100.101 连不上",
    "验证码 834521",
    "400-820-8820 客服",
    "第 0123 期",
    "房间 1308 号",
    "138001380001 多一位",
]


@pytest.mark.parametrize(("text", "redacted"), REDACTED)
def test_identifiers_as_people_type_them_are_redacted(text, redacted):
    redactor = Redactor()
    assert redactor.redact(text) == redacted
    assert sum(redactor.counts.values()) == redacted.count("<")


@pytest.mark.parametrize("text", KEPT)
def test_numbers_that_only_look_like_identifiers_stay(text):
    redactor = Redactor()
    assert redactor.redact(text) == text
    assert not any(redactor.counts.values())


def test_the_table_is_big_enough_both_ways():
    assert len(REDACTED) + len(KEPT) >= 60 and min(len(REDACTED), len(KEPT)) >= 30
