"""Turn the time strings exporters write into Unix seconds.

Exporters write the exporting PC's local time without a zone (MemoTrace `StrTime`, PyWxDump,
WechatExporter, Telegram `date`), so the zone is an input (`--timezone`, default Asia/Shanghai).
Excel re-saves times as `2024/10/4 11:42` (no padding, no seconds): accepted too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

_LOCAL = re.compile(
    r"\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)
_DATE_ONLY = re.compile(r"\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\s*$")
_EPOCH = re.compile(r"\s*\d{9,13}(?:\.\d+)?\s*$")


def parse_time(text: str, zone: tzinfo) -> float:
    """Unix seconds from a local time string, an ISO time with offset, or epoch (s or ms) digits.

    Raises ValueError with a short reason on anything else, for the malformed-row report.
    """
    if _EPOCH.match(text):
        value = float(text)
        return value / 1000 if value > 1e11 else value
    m = _LOCAL.match(text)
    if m:
        year, month, day, hour, minute, second, offset = m.groups()
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
        return moment.replace(tzinfo=_offset_zone(offset) if offset else zone).timestamp()
    m = _DATE_ONLY.match(text)
    if m:
        return datetime(*map(int, m.groups())).replace(tzinfo=zone).timestamp()
    raise ValueError(f"unreadable time {text[:40]!r}")


def _offset_zone(offset: str) -> tzinfo:
    if offset == "Z":
        return UTC
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-delta if offset[0] == "-" else delta)
