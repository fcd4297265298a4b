"""Helpers for the import tests: write small exports in the exporters' real shapes, run the import."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from wechat_twin.training.cli import app
from wechat_twin.training.formats.support.message import Message, ParseOptions

SHANGHAI = ZoneInfo("Asia/Shanghai")
MEMOTRACE_BASE = ["localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status", "StrContent", "StrTime"]
MEMOTRACE_HEADER = [*MEMOTRACE_BASE, "Remark", "NickName", "Sender"]
T0 = int(datetime(2024, 3, 9, 12, 0, tzinfo=SHANGHAI).timestamp())


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def base_row(local_id: int, talker: str, is_me: bool, ts: int, content: str, type_: int = 1, sub: int = 0) -> list:
    """The nine columns every MemoTrace shape starts with."""
    return [local_id, talker, type_, sub, int(is_me), ts, 2 if is_me else 0, content, local(ts)]


def write_csv(path: Path, header: list[str] | None, rows: list[list], encoding: str = "utf-8-sig") -> Path:
    """Python's csv.writer with its default dialect (CRLF rows), as every exporter here uses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def shape_e(path: Path, rows: list[tuple], encoding: str = "utf-8-sig") -> Path:
    """MemoTrace >= 1.0 messages.csv: rows of (talker, is_me, ts, content, remark, nickname, sender[, type, sub])."""
    out = []
    for i, (talker, is_me, ts, content, remark, nickname, sender, *kind) in enumerate(rows, start=1):
        out.append([*base_row(i, talker, is_me, ts, content, *kind), remark, nickname, "我" if is_me else sender])
    return write_csv(path, MEMOTRACE_HEADER, out, encoding)


def conversation(
    talker: str = "7", friend: str = "小王", start: int = T0, pairs: int = 3, gap: int = 60
) -> list[tuple]:
    """A plain one-to-one exchange in shape E row tuples: friend asks, owner answers."""
    rows = []
    for i in range(pairs):
        rows.append((talker, False, start + 2 * i * gap, f"question {i}", "", friend, friend))
        rows.append((talker, True, start + (2 * i + 1) * gap, f"answer {i} [旺柴]", "", friend, friend))
    return rows


def parse(module, path: Path, **options) -> tuple[list[Message], ParseOptions]:
    opts = ParseOptions(**options)
    return list(module.parse(path, opts)), opts


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_data(*args: str | Path):
    """`twin-train data ARGS` in process, as a user would type it."""
    return CliRunner().invoke(app, ["data", *map(str, args)])
