"""ChatLab JSON and JSONL, one chat a file: chatlab.fun's interchange format (docs/formats.md §6.3).

WeFlow and miyu write it. JSON: `{chatlab, meta: {name, type: group|private, groupId?}, members, messages}`. JSONL: a
`{"_type": "header", chatlab, meta}` line, then `member` and `message` lines. A message has
`sender` (wxid), `accountName`, `groupNickname?`, `timestamp` (Unix seconds), a numeric `type`
and `content`. Nothing marks the owner: `--me` names them (name or wxid); without it the owner is
the one sender present in every one-to-one chat of the folder (two at least), or the speaker of a lone
one-to-one chat not named like the chat, and the report says which was chosen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from wechat_twin.errors import readable
from wechat_twin.training.formats.support import jsonfile
from wechat_twin.training.formats.support.message import Diagnostics, ExportFormatError, Kind, Message, ParseOptions
from wechat_twin.training.formats.support.notices import notice_kind
from wechat_twin.training.formats.support.owner import owner_names
from wechat_twin.training.formats.support.textio import head
from wechat_twin.training.formats.support.weflow_text import kind_and_text, reply_text

NAME = "chatlab"
DESCRIPTION = "ChatLab JSON / JSONL (WeFlow, miyu): chatlab + meta + members + messages"

SUFFIXES = (".json", ".jsonl")
_KINDS = {
    0: Kind.TEXT,
    1: Kind.IMAGE,
    2: Kind.VOICE,
    3: Kind.VIDEO,
    4: Kind.FILE,
    5: Kind.STICKER,
    7: Kind.LINK,
    8: Kind.LOCATION,
    23: Kind.CALL,
    24: Kind.MINI_PROGRAM,
    25: Kind.QUOTE,
    27: Kind.CONTACT_CARD,
}
SYSTEM = 80
OTHER = 99  # transfers and anything else: told apart by WeFlow's markers


@dataclass
class _Chat:
    """One file read whole: its meta and its message records, each with where it was."""

    meta: dict[str, Any]
    records: list[tuple[int | str, dict[str, Any]]] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return self.meta.get("type") == "group"


def detect(path: Path) -> float:
    text = head(path).lstrip()
    first = text.split("\n", 1)[0]
    if first.startswith('{"_type"') and '"header"' in first and '"chatlab"' in first:
        return 1.0
    return 1.0 if text.startswith("{") and '"chatlab"' in text[:4096] and '"meta"' in text else 0.0


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    chat = _read(path, options)
    owners = _owners(path, chat, options)
    chat_name = str(chat.meta.get("name") or readable(path.stem))
    chat_id = str(chat.meta.get("groupId") or readable(path.stem))
    for where, record in chat.records:
        try:
            yield _message(record, chat_id, chat_name, chat.is_group, owners)
        except (TypeError, ValueError) as error:
            options.diagnostics.malformed(path, where, str(error))


def _read(path: Path, options: ParseOptions) -> _Chat:
    if head(path).lstrip().startswith('{"_type"'):
        return _read_jsonl(path, options)
    data = jsonfile.load(path, options)
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ExportFormatError(path, "not a ChatLab export: no 'messages' list at the top level")
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    return _Chat(meta, [(f"messages[{i}]", record) for i, record in enumerate(data["messages"])])


def _read_jsonl(path: Path, options: ParseOptions) -> _Chat:
    chat = _Chat({})
    for number, line in jsonfile.lines(path, options):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == 1:
                raise ExportFormatError(path, f"line 1: not JSON ({error.msg})") from error
            options.diagnostics.malformed(path, number, f"not JSON ({error.msg})")
            continue
        kind = record.get("_type") if isinstance(record, dict) else None
        if kind == "header":
            chat.meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        elif kind == "message":
            chat.records.append((number, record))
        elif kind != "member":
            options.diagnostics.malformed(path, number, f"unknown ChatLab line type {kind!r}")
    return chat


def _names(record: dict[str, Any]) -> set[str]:
    return {str(record[key]) for key in ("sender", "accountName", "groupNickname") if record.get(key)}


def _owners(path: Path, chat: _Chat, options: ParseOptions) -> set[str]:
    """The owner's names and ids: `--me`, else the one sender in every one-to-one chat of the
    folder, else (a lone one-to-one chat) the speaker not named like the chat."""
    if options.me:
        return set(options.me)
    common = _senders_in_every_private_chat(path.parent, _folder_stamp(path.parent))
    if len(common) == 1:
        (owner,) = common
        names = {name for _, r in chat.records if r.get("sender") == owner for name in _names(r)} | {owner}
        shown = ", ".join(sorted(names - {owner})) or owner
        options.diagnostics.warn(
            f"{path.parent}: ChatLab owner taken to be {shown} ({owner}), the one sender in every "
            "one-to-one chat (pass --me NAME to say otherwise)"
        )
        return names
    speakers: dict[str, int] = {}
    for _, record in chat.records:
        name = str(record.get("accountName") or record.get("sender") or "")
        speakers[name] = speakers.get(name, 0) + 1
    chat_name = "" if chat.is_group else str(chat.meta.get("name") or "")
    return owner_names(path, speakers, chat_name, options, "ChatLab")


def _folder_stamp(folder: Path) -> tuple[tuple[str, int], ...]:
    """The folder's ChatLab files and their modification times: the owner cache's key."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    return tuple((p.name, p.stat().st_mtime_ns) for p in files if detect(p))


@lru_cache(maxsize=16)
def _senders_in_every_private_chat(folder: Path, stamp: tuple[tuple[str, int], ...]) -> frozenset[str]:
    common: set[str] | None = None
    private_chats = 0
    quiet = ParseOptions(diagnostics=Diagnostics())  # the file's own parse reports its problems
    for name, _ in stamp:
        try:
            chat = _read(folder / name, quiet)
        except ExportFormatError:
            continue
        if chat.is_group:
            continue
        senders = {str(r["sender"]) for _, r in chat.records if isinstance(r, dict) and r.get("sender")}
        common = senders if common is None else common & senders
        private_chats += 1
    return frozenset(common or ()) if private_chats >= 2 else frozenset()  # one chat: both sides are in it


def _message(record: Any, chat_id: str, chat_name: str, is_group: bool, owners: set[str]) -> Message:
    if not isinstance(record, dict):
        raise TypeError("not a JSON object")
    timestamp = jsonfile.number(record, "timestamp")
    type_ = int(jsonfile.number(record, "type"))
    content = str(record.get("content") or "")
    if type_ == SYSTEM:
        kind, text = notice_kind(content), ""
    elif type_ == OTHER:
        kind = kind_and_text(content)[0]
        kind, text = (Kind.OTHER if kind in (Kind.TEXT, Kind.QUOTE) else kind), ""
    else:
        kind = _KINDS.get(type_, Kind.OTHER)
        text = content if kind is Kind.TEXT else reply_text(content) if kind is Kind.QUOTE else ""
    sender_id = str(record.get("sender") or "")
    sender_name = str(record.get("groupNickname") or record.get("accountName") or "")
    is_me = bool(_names(record) & owners)
    return Message(chat_id, chat_name, sender_id, sender_name, is_me, float(timestamp), text, kind, is_group)
