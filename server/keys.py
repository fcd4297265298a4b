"""The server's keys: what each kind may reach, how they are written, and the checks made before serving.

Three kinds. API keys (the owner's tools, the bridge) chat with every clone and may name the contact a
request speaks for; admin keys also load and unload adapters; chat keys (friends) chat only with the
clones they were given, as the contact they were given or none, so a friend can neither pick another
contact's memory nor learn who the contacts are. Keys come from `--key-file` (TOML, the documented way:
nothing in `ps` or the shell history), the environment, or the command line; all of them are checked at
start-up, where a mistake is one `error:` line naming the option (exit 2), never a server that is open.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field

from wechat_twin.names import NAME_RULE, is_plain_name

# Names the server gives keys itself: a chat key named like one would pass for it in feedback and logs.
NO_KEY_NAME = "local"
RESERVED_KEY_NAME = re.compile(r"^(?:local|(?:api|admin)-key-\d+)$", re.IGNORECASE)
# On a public bind a key is all that stands between the network and the clones: no short guessable ones.
MIN_PUBLIC_KEY_LENGTH = 16
EVERY_CLONE = "*"

_CHAT_OPTIONS = re.compile(r"^(clone|contact|blind)=(.*)$")
_YES_NO = {"yes": True, "no": False}


class ChatKey(BaseModel):
    """A friend's key: the served names (adapters, aliases, the base) it may use, and whom it speaks as."""

    key: str
    clones: list[str] = Field(min_length=1, description=f"served names, or {EVERY_CLONE!r} for all")
    contact: str | None = Field(default=None, description="the memory's contact this key speaks as; None: no memory")
    blind: bool = Field(
        default=False,
        description="May judge the blind test (`/chat/blind`) on its own contact's held-out moments: they show the "
        "owner's real replies to that contact, so the owner turns it on per key",
    )

    def may_use(self, *names: str) -> bool:
        """Whether any of `names` (what was asked for, and what it resolves to) was given to this key."""
        return EVERY_CLONE in self.clones or any(name in self.clones for name in names)


class KeySet(BaseModel):
    api: list[str] = Field(default_factory=list)
    admin: list[str] = Field(default_factory=list)
    chat: dict[str, ChatKey] = Field(default_factory=dict)


def check_key(option: str, key: str) -> None:
    """Empty or blank keys would be matched by an empty header; whitespace cannot survive a header either."""
    if not key.strip():
        raise ValueError(f"{option}: a key is empty (is the variable that should hold it unset?)")
    if any(c.isspace() or not c.isprintable() for c in key):
        raise ValueError(f"{option}: a key contains whitespace or a control character")


def check_chat_key_name(name: str) -> None:
    """A chat key's name ends up in logs and feedback rows: a plain identifier, never one the server gives."""
    if not is_plain_name(name):
        raise ValueError(f"chat key name {name!r} {NAME_RULE}")
    if RESERVED_KEY_NAME.fullmatch(name):
        raise ValueError(f"chat key name {name!r} is reserved (local, api-key-N and admin-key-N name other keys)")


def parse_chat_key(value: str) -> tuple[str, ChatKey]:
    """`NAME=KEY:clone=A,B[:contact=NAME][:blind=yes]`; the key may contain `=` (and `:` unless followed by an
    option)."""
    name, sep, rest = value.partition("=")
    if not sep:
        raise ValueError(f"{value!r}: write a chat key as NAME=KEY:clone=CLONE[,CLONE]")
    check_chat_key_name(name)
    parts = rest.split(":")
    options: dict[str, str] = {}
    while len(parts) > 1 and (match := _CHAT_OPTIONS.match(parts[-1])):
        option, option_value = match.groups()
        if option in options:
            raise ValueError(f"chat key {name!r}: {option}= is given twice")
        options[option] = option_value
        parts.pop()
    key = ":".join(parts)
    check_key(f"chat key {name!r}", key)
    clones = [c.strip() for c in options.get("clone", "").split(",") if c.strip()]
    if not clones:
        raise ValueError(
            f"chat key {name!r}: say which clones it may use: {name}=KEY:clone=NAME[,NAME] "
            f"(or clone={EVERY_CLONE} for every clone the server serves)"
        )
    contact = options.get("contact", "").strip() or None
    blind = options.get("blind", "no").strip().lower()
    if blind not in _YES_NO:
        raise ValueError(f"chat key {name!r}: blind= takes yes or no")
    return name, ChatKey(key=key, clones=clones, contact=contact, blind=_YES_NO[blind])


def parse_chat_keys(values: list[str]) -> dict[str, ChatKey]:
    keys: dict[str, ChatKey] = {}
    for value in values:
        name, chat = parse_chat_key(value)
        if name in keys:
            raise ValueError(f"chat key name {name!r} is given twice")
        keys[name] = chat
    return keys


def check_key_file_mode(path: Path) -> None:
    """Like ssh with a private key: a key file of ours that others may open is refused, not served, since
    whoever reads it holds every key in it. One owned by another user (a Kubernetes Secret: root, mode 0440,
    the group the server runs in) may give its group access, never everyone."""
    if os.name != "posix":
        return
    try:
        info = path.stat()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o007 or (mode & 0o070 and info.st_uid == os.geteuid()):
        raise ValueError(
            f"{path} is open to other users (mode {mode:04o}); keys must be owner-only: run chmod 600 {path}"
        )


def read_key_file(path: Path) -> KeySet:
    """The key file: `api = [...]`, `admin = [...]`, and a `[chat.NAME]` table per friend (`key`, `clones`,
    optional `contact` and `blind`). Unknown fields are refused: a typo must not silently drop a key's limits."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    unknown = set(data) - {"api", "admin", "chat"}
    if unknown:
        raise ValueError(f"{path}: unknown entries {sorted(unknown)} (api, admin, chat)")
    chat = data.get("chat", {})
    for name, entry in chat.items():
        check_chat_key_name(name)
        if not isinstance(entry, dict) or set(entry) - set(ChatKey.model_fields) or "key" not in entry:
            raise ValueError(f"{path}: [chat.{name}] takes {', '.join(ChatKey.model_fields)} only, and needs a key")
        if not entry.get("clones"):
            raise ValueError(f'{path}: [chat.{name}] needs clones = ["NAME", ...] (or ["{EVERY_CLONE}"])')
        check_key(f"[chat.{name}] in {path}", str(entry["key"]))
    try:
        keys = KeySet.model_validate({**data, "chat": chat})
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    for kind in ("api", "admin"):
        for key in getattr(keys, kind):
            check_key(f"{kind} in {path}", key)
    return keys


def check_key_set(api: list[str], admin: list[str], chat: dict[str, ChatKey], public: bool) -> None:
    """Every key distinct (a key given twice would have two names), and long on a public bind."""
    labelled = [("--api-key", k) for k in api] + [("--admin-key", k) for k in admin]
    labelled += [(f"--chat-key {name}", c.key) for name, c in chat.items()]
    seen: set[str] = set()
    for option, key in labelled:
        check_key(option, key)
        if key in seen:
            raise ValueError(f"{option}: the same key is given twice; every key must be different")
        seen.add(key)
        if public and len(key) < MIN_PUBLIC_KEY_LENGTH:
            raise ValueError(
                f"{option}: a key shorter than {MIN_PUBLIC_KEY_LENGTH} characters on a public address; make one "
                'with python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
