"""MemoTrace's all-messages CSV (shape E), written: the rows the sample export and the ingest benchmark generate.

Both generators write files the MemoTrace reader must take as a real export, so they build each row here, from
the reader's own column names, rather than each keeping its own copy of the header and the row's layout.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from wechat_twin.training.formats.memotrace import BASE_COLUMNS, NAME_COLUMNS
from wechat_twin.training.formats.support.message import DEFAULT_TIMEZONE

HEADER = [*BASE_COLUMNS, *NAME_COLUMNS]
ZONE = ZoneInfo(DEFAULT_TIMEZONE)  # StrTime is the exporting phone's local time: China's for these files


def row(
    local_id: int,
    talker: str,
    type_: int | str,
    subtype: int | str,
    is_me: bool,
    created: int,
    content: str,
    remark: str,
    nickname: str,
    sender: str,
) -> list[str]:
    """One message as MemoTrace >= 1.0.3 writes it: the owner's rows sent (Status 2) and signed 我."""
    strtime = datetime.fromtimestamp(created, ZONE).strftime("%Y-%m-%d %H:%M:%S")
    return [
        str(local_id),
        talker,
        str(type_),
        str(subtype),
        "1" if is_me else "0",
        str(created),
        "2" if is_me else "0",
        content,
        strtime,
        remark,
        nickname,
        "我" if is_me else sender,
    ]
