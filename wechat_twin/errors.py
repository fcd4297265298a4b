"""The one root for mistakes a user can make, so every command reports them the same way.

Importable without torch or any engine: the bridge, the server and training raise subclasses, and each
console script (`wechat_twin.commands`) catches the root once and prints `error: ...` in one line.

Exit codes, one rule for every command: 2 when the command line is wrong (an option, a choice, a path
named on it), 1 when what it points at is wrong (a file's content, a dataset, an adapter, feedback).
"""

from __future__ import annotations


class TwinError(Exception):
    """Bad input the user can fix: the message says what and where (file, line, field)."""

    exit_code = 1


class UsageError(TwinError):
    """The command line itself is wrong: an option's value, or a path it names that does not exist."""

    exit_code = 2
