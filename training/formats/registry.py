"""The list of export formats the CLI offers, and how an input is matched to one.

Each format is a module with `NAME`, `DESCRIPTION`, `detect(path) -> confidence` and
`parse(path, options) -> Iterator[Message]`; adding a format is adding a module to `FORMATS`.
A format may also offer `read_table(path, options)`, a native read into the message table
that answers None for files it cannot vouch for; `read_table` here falls back to `parse`.
Detection asks every format and takes the most confident one, so a damaged MemoTrace CSV named
on the command line is still recognised as MemoTrace and gets a precise error instead of
"unknown format"; inside a folder such half matches are skipped with a warning instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Protocol

import polars as pl

from wechat_twin.errors import UsageError
from wechat_twin.training.formats import (
    chatlab,
    chatlog_api,
    chatlog_csv,
    chatlog_json,
    jsonl,
    memotrace,
    memotrace_zh,
    pywxdump,
    telegram,
    wechatexporter,
    weflow_csv,
    weflow_json,
)
from wechat_twin.training.formats.support.message import Diagnostics, ExportFormatError, Message, ParseOptions
from wechat_twin.training.formats.support.table import from_messages
from wechat_twin.training.formats.support.textio import sniff_encoding

EXPORT_SUFFIXES = (".csv", ".txt", ".json", ".jsonl")
SURE = 0.6  # below this a format only says "this looks like me, but damaged"


class ExportFormat(Protocol):
    NAME: str
    DESCRIPTION: str

    def detect(self, path: Path) -> float: ...

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Message]: ...


FORMATS: dict[str, ExportFormat] = {
    module.NAME: module
    for module in (
        memotrace,
        memotrace_zh,
        wechatexporter,
        pywxdump,
        weflow_csv,
        weflow_json,
        chatlab,
        chatlog_json,
        chatlog_csv,
        telegram,
        jsonl,
    )
}
AUTO = "auto"
# `--format`'s choices, made from the registry so a new format is offered without another edit.
FormatChoice = Enum("FormatChoice", {name: name for name in (AUTO, *FORMATS)}, type=str)
Source = Path | str  # a file or folder, or a URL (a running chatlog)


def detect(path: Path, at_least: float = 0.0) -> ExportFormat | None:
    if sniff_encoding(path) is None:
        return None
    confidence, best = max(((f.detect(path), f) for f in FORMATS.values()), key=lambda pair: pair[0])
    return best if confidence > at_least else None


def resolve(inputs: Sequence[Source], name: str, diagnostics: Diagnostics) -> list[tuple[Source, ExportFormat]]:
    """Files to read and their formats. A folder is searched for exports and other files are
    skipped with a warning; a file named on the command line must be an export; a URL is a
    running chatlog (`chatlog_api`)."""
    if name != AUTO and name not in FORMATS:
        raise UsageError(f"--format must be auto or one of: {', '.join(FORMATS)}")
    forced = FORMATS.get(name)
    files: list[tuple[Source, ExportFormat]] = []
    for source in inputs:
        if chatlog_api.is_url(str(source)):
            files.append((chatlog_api.check_url(str(source)), chatlog_api))
            continue
        given = Path(source)
        if not given.exists():
            raise ExportFormatError(given, "no such file or folder")
        if given.is_dir():
            candidates = sorted(
                p
                for p in given.rglob("*")
                if p.is_file() and p.suffix.lower() in EXPORT_SUFFIXES and not p.name.startswith(".")
            )
            for path in candidates:
                found = forced or detect(path, at_least=SURE)
                if found is None:
                    diagnostics.warn(f"{path}: skipped, not a known chat export")
                else:
                    files.append((path, found))
            if not any(isinstance(path, Path) and path.is_relative_to(given) for path, _ in files):
                raise ExportFormatError(given, "folder holds no known chat export")
            continue
        found = forced or detect(given)
        if found is None:
            raise ExportFormatError(given, f"not a known chat export format (known: {', '.join(FORMATS)})")
        files.append((given, found))
    return files


def read_table(path: Source, export_format: ExportFormat, options: ParseOptions) -> pl.DataFrame:
    """One file's messages as the message table (`wechat_twin.training.formats.support.table`)."""
    native = getattr(export_format, "read_table", None)
    table = native(path, options) if native is not None else None
    return table if table is not None else from_messages(export_format.parse(path, options))
