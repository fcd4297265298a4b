"""The one root for mistakes a user can make, so every command reports them the same way.

Importable without torch or any engine: the bridge, the server and training raise subclasses, and each
console script (`wechat_twin.commands`) catches the root once and prints `error: ...` in one line.

Exit codes, one rule for every command: 2 when an option's value is wrong (out of range, contradicting
another, a choice not offered: typer refuses those itself while parsing); 1 when the input is wrong (a file
missing or unreadable, its content, a dataset, an adapter folder, feedback).
"""

from __future__ import annotations

import re

# Python keeps the bytes of a file name that is not UTF-8 as lone surrogates (U+DC80-U+DCFF, PEP 383).
_ESCAPED_NAME = re.compile(r"[^\s/]*[\udc80-\udcff][^\s/]*")


def readable(text: str) -> str:
    """`text` with file names that are not UTF-8 shown as the Chinese they are.

    An export zipped on a Chinese Windows and unzipped on Linux or macOS keeps its GBK file names, which
    Python holds as escaped bytes: printed as they are they read `\\udcc1\\udcc4...`, and they cannot be
    written to a UTF-8 file at all. Each name (a word or path component) holding such bytes is decoded as
    GB18030 (GBK's superset); bytes that are not GB18030 either stay visible as escapes."""

    def decode(match: re.Match[str]) -> str:
        return match.group().encode("utf-8", "surrogateescape").decode("gb18030", "backslashreplace")

    return _ESCAPED_NAME.sub(decode, text)


class TwinError(Exception):
    """Bad input the user can fix: the message says what and where (file, line, field)."""

    exit_code = 1


class UsageError(TwinError):
    """An option's value is wrong: the message names the option."""

    exit_code = 2
