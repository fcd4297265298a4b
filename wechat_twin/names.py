"""The one shape of a name the user gives a thing that is served or logged: adapters and chat keys.

An adapter's folder name is its served name, the model a client asks for, and a chat key's name ends up in
logs and feedback rows. Training refuses an output folder the server would refuse to serve, so both read
the pattern from here; it stays standard library only because the bridge, the server and training import it.
"""

from __future__ import annotations

import re

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NAME_RULE = f"must match {NAME_PATTERN.pattern}"


def is_plain_name(name: str) -> bool:
    """A letter or digit, then up to 63 letters, digits, `.`, `_` or `-`."""
    return bool(NAME_PATTERN.fullmatch(name))
