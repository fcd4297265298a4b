"""The one shape of a name the user gives a thing that is served or logged: adapters and chat keys.

An adapter's folder name is its served name, the model a client asks for, and a chat key's name ends up in
logs and feedback rows. Training refuses an output folder the server would refuse to serve, so both read
the pattern from here; it stays standard library only because the bridge, the server and training import it.

A clone may have versions: folders `me@1`, `me@2`, ... of one adapters folder (docs/adapters.md). The
version suffix is part of an adapter's name only, never of a chat key's, so it has its own pattern.
"""

from __future__ import annotations

import re

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NAME_RULE = f"must match {NAME_PATTERN.pattern}"
VERSION_SEPARATOR = "@"
# A clone's name, optionally `@N` (a positive version number without leading zeros): `me`, `me@2`.
ADAPTER_NAME_PATTERN = re.compile(r"^(?P<clone>[A-Za-z0-9][A-Za-z0-9._-]{0,63})(?:@(?P<version>[1-9][0-9]{0,5}))?$")
ADAPTER_NAME_RULE = f"must match {ADAPTER_NAME_PATTERN.pattern}"


def is_plain_name(name: str) -> bool:
    """A letter or digit, then up to 63 letters, digits, `.`, `_` or `-`."""
    return bool(NAME_PATTERN.fullmatch(name))


def is_adapter_name(name: str) -> bool:
    """A plain name, or a plain name with a version: `me@2`."""
    return bool(ADAPTER_NAME_PATTERN.fullmatch(name))


def split_version(name: str) -> tuple[str, int | None]:
    """`me@2` -> ("me", 2); `me` -> ("me", None). A name that is no adapter name comes back whole, unversioned."""
    match = ADAPTER_NAME_PATTERN.fullmatch(name)
    if match is None or match["version"] is None:
        return name, None
    return match["clone"], int(match["version"])


def versioned(clone: str, version: int) -> str:
    """The served name of a clone's version: ("me", 2) -> `me@2`."""
    return f"{clone}{VERSION_SEPARATOR}{version}"
