"""MemoTrace (留痕) CSV, every shape from 0.2.6 to 2.x (docs/formats.md §1, shapes A–F).

All shapes share the first nine columns; what follows depends on the version, and the header
does not say which: 0.2.6 rows carry a server id the header does not name (B), 0.2.7–0.2.9 put
the server id under `Remark` and shift the names right (C, and D with a `CompressContent` field),
1.x aligns them, once naming the chat (E: `messages.csv`) and once the speaker (F: per-chat
`<name>_utf8.csv`). The shape is decided from the header plus the first rows, then each row is
read by its width. Files of the 1.x shapes that polars can read whole are read natively into the
message table (`read_table`); every other file, and any file with a row polars cannot vouch for,
goes through the row reader, which names each malformed row by its line.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from wechat_twin.errors import readable
from wechat_twin.training.formats.support import csvfile, wechat_types
from wechat_twin.training.formats.support.message import Diagnostics, ExportFormatError, Kind, Message, ParseOptions
from wechat_twin.training.formats.support.table import SCHEMA
from wechat_twin.training.formats.support.textio import decode_error, open_text, sniff_encoding

NAME = "memotrace"
DESCRIPTION = "MemoTrace / 留痕 CSV (messages.csv, <name>_utf8.csv), versions 0.2.6 to 2.x"

BASE_COLUMNS = ("localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status", "StrContent", "StrTime")
NAME_COLUMNS = ("Remark", "NickName", "Sender")
TABLE_COLUMNS = ("TalkerId", "Type", "SubType", "IsSender", "CreateTime", "StrContent", "StrTime", *NAME_COLUMNS)
PEEK_ROWS = 2000

_SERVER_ID = re.compile(r"\d{15,20}$")


@dataclass(frozen=True)
class _Shape:
    """How to read one version's rows: by row width, the positions of (remark, nickname, sender)
    and whether a row of that width is known to be in a group chat."""

    name: str
    versions: str
    widths: dict[int, tuple[int | None, int | None, int | None, bool | None]]


_NO_NAMES = (None, None, None, None)
_SHAPES = {
    "A/B": _Shape("A/B", "0.2.6", {9: _NO_NAMES, 10: _NO_NAMES}),
    "C": _Shape(
        "C",
        "0.2.7-0.2.8",
        {12: (10, 11, None, False), 13: (10, 11, 12, True), 10: (None, None, None, False), 11: (None, None, 10, True)},
    ),
    "D": _Shape(
        "D",
        "0.2.9",
        {13: (11, 12, None, False), 14: (11, 12, 13, True), 11: (None, None, None, False), 12: (None, None, 11, True)},
    ),
    "E": _Shape("E", ">=1.0 messages.csv", {12: (9, 10, 11, None)}),
    "F": _Shape("F", ">=1.0 per-chat <name>_utf8.csv", {12: (9, 10, 11, None), 9: (None, None, None, False)}),
}


def detect(path: Path) -> float:
    return csvfile.header_match(path, BASE_COLUMNS, damaged_at=4)


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    csv.field_size_limit(max(csv.field_size_limit(), csvfile.FIELD_LIMIT))
    try:
        with open_text(path, options) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            _check_header(path, header)
            peeked = _peek(reader, path, options) if len(header) > len(BASE_COLUMNS) else []
            shape = _shape(path, header, peeked)
            if shape.name == "A/B":
                options.diagnostics.warn(
                    f"{path}: MemoTrace 0.2.6 carries no speaker: group chats cannot be told apart "
                    "and are read as one-to-one chats"
                )
            elif shape.name in ("C", "D"):
                options.diagnostics.warn(
                    f"{path}: MemoTrace {shape.versions} wrote shifted name columns (server id under "
                    "Remark); read by position"
                )
            yield from _messages(path, reader, peeked, shape, options)
    except UnicodeDecodeError as error:
        raise decode_error(path, error) from error


def read_table(path: Path, options: ParseOptions) -> pl.DataFrame | None:
    """Shapes E and F in one native pass, or None for the row reader to take the file.

    polars pads a short row with nulls and reads an empty field as null too, so a row it cannot
    vouch for (no `StrTime`, neither `NickName` nor `Sender`, a `CreateTime` that is not a number)
    sends the whole file to the row reader, which reports each malformed row by its line.
    """
    if sniff_encoding(path) not in ("utf-8", "utf-8-sig"):
        return None
    shape = _shape_for_table(path)
    if shape is None:
        return None
    try:
        # polars opens a path only by a UTF-8 name; a GBK-named file (unzipped from Windows) goes in as bytes.
        source = path if readable(str(path)) == str(path) else path.read_bytes()
        frame = pl.read_csv(source, infer_schema=False, encoding="utf8", columns=list(TABLE_COLUMNS))
    except pl.exceptions.PolarsError:
        return None
    created = pl.col("CreateTime").cast(pl.Int64, strict=False)
    doubtful = pl.col("StrTime").is_null() | (pl.col("NickName").is_null() & pl.col("Sender").is_null())
    if frame.select((doubtful | created.is_null()).any()).item():
        return None
    if options.on_read is not None:
        options.on_read(path.stat().st_size)
    frame = frame.with_columns(pl.col(pl.String).fill_null(""))
    is_me = pl.col("IsSender") == "1"
    remark_or_nickname = pl.when(pl.col("Remark") != "").then(pl.col("Remark")).otherwise(pl.col("NickName"))
    if shape.name == "E":
        chat_name, sender_name = remark_or_nickname, pl.col("Sender")
        is_group = pl.when(~is_me & (pl.col("Sender") != pl.col("NickName"))).then(True)
    else:
        chat_name, sender_name = pl.lit(readable(path.stem).removesuffix("_utf8")), remark_or_nickname
        is_group = pl.lit(None)
    return frame.select(
        chat_id=pl.col("TalkerId"),
        chat_name=chat_name,
        sender_id=pl.col("Sender"),
        sender_name=sender_name,
        is_me=is_me,
        timestamp=created.cast(pl.Float64),
        text=pl.when(pl.col("Type") == "1").then(pl.col("StrContent")).otherwise(pl.lit("")),
        kind=pl.lit(_kinds(frame)),
        is_group=is_group,
    ).cast(SCHEMA)


def _shape_for_table(path: Path) -> _Shape | None:
    """The shape, if it is one whose every row has the header's 12 fields (E, or F without its
    old 9-field rows) and the first rows parse cleanly."""
    quiet = ParseOptions(diagnostics=Diagnostics())  # the row reader reports what this finds
    with open_text(path, quiet) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != [*BASE_COLUMNS, *NAME_COLUMNS]:
            return None
        peeked = _peek(reader, path, quiet)
    shape = _shape(path, header, peeked)
    regular = not quiet.diagnostics.malformed_count and all(len(row) == len(header) for _, row in peeked)
    return shape if shape.name in ("E", "F") and regular else None


def _kinds(frame: pl.DataFrame) -> pl.Series:
    """Each row's kind; only rows that are not plain text (a few percent) are classified in Python, and
    of those only system notices by their wording, once per distinct wording: the rest once per (Type, SubType)."""
    kinds = pl.repeat(Kind.TEXT.value, frame.height, eager=True, dtype=pl.String)
    others = frame.with_row_index().filter(pl.col("Type") != "1")
    if not others.height:
        return kinds
    pairs = others.select("Type", "SubType").unique(maintain_order=True)
    by_pair = [_kind_without_content(type_, sub) for type_, sub in pairs.iter_rows()]
    others = others.join(
        pairs.with_columns(kind=pl.Series(by_pair, dtype=pl.String)), on=["Type", "SubType"], maintain_order="left"
    )
    notices = others.filter(pl.col("kind").is_null())
    if notices.height:  # recalls and pats repeat their wording ("x" 撤回了一条消息): each wording is read once
        keys = ["Type", "SubType", "StrContent"]
        wordings = notices.select(keys).unique(maintain_order=True)
        by_wording = pl.Series([_kind(type_, sub, content).value for type_, sub, content in wordings.iter_rows()])
        notices = notices.join(wordings.with_columns(notice=by_wording), on=keys, maintain_order="left")
        kinds = kinds.scatter(notices["index"], notices["notice"])
    known = others.filter(pl.col("kind").is_not_null())
    return kinds.scatter(known["index"], known["kind"])


def _kind_without_content(type_: str, subtype: str) -> str | None:
    """`_kind`'s answer for every row of this type and subtype, or None where the content decides."""
    if type_.isdigit() and subtype.isdigit() and int(type_) in wechat_types.SYSTEM_TYPES:
        return None
    return _kind(type_, subtype, "").value


def _check_header(path: Path, header: list[str] | None) -> None:
    if not header:
        raise ExportFormatError(path, "empty file: no CSV header")
    if tuple(header[: len(BASE_COLUMNS)]) != BASE_COLUMNS:
        missing = [c for c in BASE_COLUMNS if c not in header]
        if missing:
            raise ExportFormatError(path, f"MemoTrace CSV is missing required columns: {', '.join(missing)}")
        raise ExportFormatError(path, f"MemoTrace CSV columns out of order: expected {','.join(BASE_COLUMNS)} first")
    extra = tuple(header[len(BASE_COLUMNS) :])
    if extra and extra != NAME_COLUMNS:
        raise ExportFormatError(
            path, f"unknown MemoTrace columns after StrTime: {','.join(extra)} (expected {','.join(NAME_COLUMNS)})"
        )


def _peek(reader, path: Path, options: ParseOptions) -> list[tuple[int, list[str]]]:
    """Read the first rows ahead, with their line numbers: the shape is decided from them."""
    peeked: list[tuple[int, list[str]]] = []
    line = reader.line_num
    while len(peeked) < PEEK_ROWS:
        try:
            row = next(reader, None)
        except csv.Error as error:
            options.diagnostics.malformed(path, line + 1, f"CSV error: {error}")
            line = reader.line_num
            continue
        if row is None:
            break
        peeked.append((line + 1, row))
        line = reader.line_num
    return peeked


def _shape(path: Path, header: list[str], peeked: list[tuple[int, list[str]]]) -> _Shape:
    if len(header) == len(BASE_COLUMNS):
        return _SHAPES["A/B"]
    rows = [row for _, row in peeked]
    if any(len(row) >= 10 and _SERVER_ID.match(row[9]) for row in rows):
        compressed = any(len(row) == 14 or (len(row) >= 11 and row[10][:2] in ("b'", 'b"')) for row in rows)
        return _SHAPES["D" if compressed else "C"]
    if path.name.endswith("_utf8.csv"):
        return _SHAPES["F"]
    for row in rows:
        if len(row) == 12 and row[4] == "1":
            return _SHAPES["E" if row[11] == "我" else "F"]
    return _SHAPES["F" if any(len(row) == 9 for row in rows) else "E"]


def _kind(type_: str, subtype: str, content: str) -> Kind:
    """WeChat's own type numbers; a quote (49/57) carries its reply text in CompressContent,
    which no shape writes, so it comes out without text."""
    if not (type_.isdigit() and subtype.isdigit()):
        return Kind.OTHER
    return wechat_types.kind_of(int(type_), int(subtype), content)


def _messages(path: Path, reader, peeked, shape: _Shape, options: ParseOptions) -> Iterator[Message]:
    """The hot loop of the 1M-message benchmark: one pass, no per-row helper calls for text rows."""
    malformed = options.diagnostics.malformed
    widths = shape.widths
    per_chat = shape.name == "F"
    from_sender_column = shape.name == "E"
    file_chat_name = readable(path.stem).removesuffix("_utf8")
    text_kind = Kind.TEXT
    peeked_lines = [line for line, _ in peeked]
    rows = itertools.chain([row for _, row in peeked], reader)
    index = -1
    end = reader.line_num  # the line the previous row ended on: a malformed row starts after it
    while True:
        try:
            for row in rows:
                index += 1
                previous_end, end = end, reader.line_num
                spec = widths.get(len(row))
                if spec is None:
                    if row:  # csv yields [] for blank lines
                        line = peeked_lines[index] if index < len(peeked_lines) else previous_end + 1
                        malformed(path, line, f"{len(row)} fields, expected {' or '.join(map(str, widths))}")
                    continue
                try:
                    created = int(row[5])
                except ValueError:
                    line = peeked_lines[index] if index < len(peeked_lines) else previous_end + 1
                    malformed(path, line, f"CreateTime {row[5][:20]!r} is not Unix seconds")
                    continue
                is_me = row[4] == "1"
                type_ = row[2]
                if type_ == "1":
                    kind, text = text_kind, row[7]
                else:
                    kind, text = _kind(type_, row[3], row[7]), ""
                if from_sender_column:
                    sender = row[11]
                    is_group = True if not is_me and sender != row[10] else None
                    yield Message(row[1], row[9] or row[10], sender, sender, is_me, created, text, kind, is_group)
                    continue
                remark_at, nickname_at, sender_at, is_group = spec
                if per_chat:
                    if remark_at is None:
                        sender_id = sender_name = ""
                    else:
                        sender_id, sender_name = row[sender_at], row[remark_at] or row[nickname_at]
                    yield Message(row[1], file_chat_name, sender_id, sender_name, is_me, created, text, kind, is_group)
                    continue
                chat_name = (row[remark_at] or row[nickname_at]) if remark_at is not None else ""
                if sender_at is not None:
                    sender = row[sender_at]
                else:
                    sender = "" if is_me or nickname_at is None else row[nickname_at]
                yield Message(row[1], chat_name, sender, sender, is_me, created, text, kind, is_group)
            return
        except csv.Error as error:
            malformed(path, end + 1, f"CSV error: {error}")
            end = reader.line_num
