"""The one root for mistakes a user can make, so every command reports them the same way.

Importable without torch or any engine: the bridge, the server and training raise subclasses, and each
console script (`wechat_twin.commands`) catches the root once and prints `error: ...` in one line.

Exit codes, one rule for every command: 2 when an option's value is wrong (out of range, contradicting
another, a choice not offered: typer refuses those itself while parsing); 1 when the input is wrong (a file
missing or unreadable, its content, a dataset, an adapter folder, feedback).
"""

from __future__ import annotations


class TwinError(Exception):
    """Bad input the user can fix: the message says what and where (file, line, field)."""

    exit_code = 1


class UsageError(TwinError):
    """An option's value is wrong: the message names the option."""

    exit_code = 2
