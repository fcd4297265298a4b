"""What every CSV export shares: its header line, and rows taken by the names of their columns.

MemoTrace's Chinese-header CSV and PyWxDump's name their columns in the header and may reorder
or add some; the rows are read by name, each with the line it starts on, and a row too short
for the columns the format needs is reported by that line and skipped.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from wechat_twin.training.formats.support.message import ExportFormatError, ParseOptions
from wechat_twin.training.formats.support.textio import decode_error, first_line, open_text

FIELD_LIMIT = 1 << 24  # fields may hold whole XML documents; the csv default (128 KiB) is too small


def header(path: Path) -> list[str]:
    """The header's fields ([] for an empty or binary file): what detectors look at."""
    line = first_line(path)
    return next(csv.reader([line]), []) if line else []


def header_match(path: Path, columns: Sequence[str], damaged_at: int) -> float:
    """A detector's confidence: 1.0 when the header starts with `columns`; 0.5 when it holds at
    least `damaged_at` of them (meant as this format but damaged: parsing then names what is
    missing, instead of "unknown format"); else 0."""
    names = header(path)
    if tuple(names[: len(columns)]) == tuple(columns):
        return 1.0
    return 0.5 if len(set(names) & set(columns)) >= damaged_at else 0.0


def named_rows(
    path: Path, options: ParseOptions, required: Sequence[str], what: str
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, {column: value}) for each row holding every `required` column; `what` names the
    format in the error a file without one of them gets."""
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    try:
        with open_text(path, options) as f:
            reader = csv.reader(f)
            names = next(reader, None) or []
            missing = [c for c in required if c not in names]
            if missing:
                raise ExportFormatError(path, f"{what} is missing required columns: {', '.join(missing)}")
            at = {name: names.index(name) for name in required}
            width = max(at.values()) + 1
            start = reader.line_num + 1
            for row in reader:
                line, start = start, reader.line_num + 1
                if len(row) < width:
                    if row:  # csv yields [] for blank lines
                        options.diagnostics.malformed(path, line, f"{len(row)} fields, expected {len(names)}")
                    continue
                yield line, {name: row[i] for name, i in at.items()}
    except UnicodeDecodeError as error:
        raise decode_error(path, error) from error
