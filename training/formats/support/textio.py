"""Open export files as text whatever their encoding, and report bytes read for the progress bar.

Exporters write UTF-8 with or without a BOM; files re-saved on Chinese Windows are GBK (read as
GB18030, its superset). The encoding is decided once from the first MiB, so detection and parsing
agree, and a file that is neither fails with an error naming it instead of mojibake.
"""

from __future__ import annotations

import codecs
import io
from functools import lru_cache
from pathlib import Path
from typing import TextIO

from wechat_twin.training.formats.support.message import ExportFormatError, ParseOptions

SNIFF_BYTES = 1 << 20
HEAD_CHARS = 1 << 16

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def sniff_encoding(path: Path) -> str | None:
    """The file's encoding, or None for binary files (which no format reads)."""
    stat = path.stat()
    return _sniff(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _sniff(path: Path, mtime_ns: int, size: int) -> str | None:
    with open(path, "rb") as f:
        sample = f.read(SNIFF_BYTES)
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if b"\x00" in sample:
        return None
    for name in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(name)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return name
    return None


def head(path: Path) -> str:
    """The first characters of a text file ("" for binary files): what detectors look at."""
    stat = path.stat()
    return _head(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _head(path: Path, mtime_ns: int, size: int) -> str:
    encoding = _sniff(path, mtime_ns, size)
    if encoding is None:
        return ""
    with open(path, encoding=encoding, errors="replace", newline="") as f:
        return f.read(HEAD_CHARS)


def first_line(path: Path) -> str:
    return head(path).split("\n", 1)[0].rstrip("\r")


class _CountingFile(io.FileIO):
    """A raw file that reports each chunk it reads; costs one call per 8 KiB, not per row."""

    def __init__(self, path: Path, on_read):
        super().__init__(path, "r")
        self._on_read = on_read

    def readinto(self, buffer) -> int | None:
        n = super().readinto(buffer)
        if n:
            self._on_read(n)
        return n


def open_text(path: Path, options: ParseOptions, newline: str | None = "") -> TextIO:
    """Open for reading as text; `newline=""` keeps CSV's quoted line breaks intact."""
    encoding = sniff_encoding(path)
    if encoding is None:
        raise ExportFormatError(path, "not a text file (binary data or an unknown encoding)")
    if options.on_read is None:
        return open(path, encoding=encoding, newline=newline)
    raw = _CountingFile(path, options.on_read)
    return io.TextIOWrapper(io.BufferedReader(raw), encoding=encoding, newline=newline)


def decode_error(path: Path, error: UnicodeDecodeError) -> ExportFormatError:
    return ExportFormatError(
        path, f"not valid {error.encoding} past the first MiB ({error.reason}); re-save it as UTF-8"
    )
