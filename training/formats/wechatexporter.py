"""WechatExporter TXT (iOS backups): one file per chat, `NAME (TIME):MESSAGE` lines (docs/formats.md §2).

Only lines with that prefix start a message; everything else is a continuation line, a system
notice, a quoted-reply block or a forwarded-chat block, told apart by wording and layout:
- notices are recognised by their wording (`wechat_twin.training.formats.support.notices`) and end the message before;
  one before the first message (a group invitation) takes that message's time;
- `「name：quoted」` + a dashed rule + the reply is a quoted reply without speaker or time: in a
  one-to-one chat the replier is the participant who was not quoted, timed like the message
  before; in a group it cannot be attributed and is dropped as `quote_unattributed`;
- `<< title` … `title 结束 >>` wraps a forwarded chat: its inner lines are not this chat's;
- transfers (and old link cards) are written without a line end, so the next message is glued
  onto their line: it is cut off again where a known speaker's `NAME (TIME):` starts.
The owner appears under their display name: `--me`, or inferred from a one-to-one chat.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wechat_twin.errors import readable
from wechat_twin.training.formats.support.message import Kind, Message, ParseOptions
from wechat_twin.training.formats.support.notices import is_notice_line, notice_kind
from wechat_twin.training.formats.support.owner import owner_names
from wechat_twin.training.formats.support.textio import decode_error, head, open_text
from wechat_twin.training.formats.support.times import parse_time

NAME = "wechatexporter"
DESCRIPTION = "WechatExporter TXT (a folder of <chat>.txt files, NAME (TIME):MESSAGE)"

_TITLE = re.compile(r"^(?P<chat>.*) - (?:微信聊天记录|WeChat Chat History)$")
_TIME = r"\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}:\d{2}"
_HEADER = re.compile(rf"^(?P<name>.+?) \((?P<time>{_TIME})\):(?P<body>.*)$")
_OLD_SHARE = re.compile(rf"^(?P<name>.+?) (?P<time>{_TIME}):(?P<body>.*)$")  # v1.9 plainshare template
_EMBEDDED = re.compile(rf" \({_TIME}\):")
_QUOTE_OPEN = re.compile(r"^「(?P<name>[^：\n]*)：")
_QUOTE_RULE = "- - - - - - - - - - - - - - -"
_QUOTE_LOOKAHEAD = 50
_FORWARD_OPEN = re.compile(r"^<< (?P<title>.+)$")
_FORWARD_CLOSE = ("{} 结束 >>", "{} Ends >>")
FORWARDED = "<< forwarded chat >>"  # stands in for a whole forwarded block; compared by identity

_BODY_KINDS = {
    "[图片]": Kind.IMAGE,
    "[Photo]": Kind.IMAGE,
    "[表情]": Kind.STICKER,
    "[Emoji]": Kind.STICKER,
    "[视频]": Kind.VIDEO,
    "[Video]": Kind.VIDEO,
    "[语音]": Kind.VOICE,
    "[Audio]": Kind.VOICE,
    "[音频]": Kind.VOICE,
    "[视频/语音通话]": Kind.CALL,
    "[Video/Audio Call]": Kind.CALL,
    "[红包]": Kind.RED_PACKET,
    "[Red Packet]": Kind.RED_PACKET,
    "[转账]": Kind.TRANSFER,
    "[Transfer]": Kind.TRANSFER,
    "[位置]": Kind.LOCATION,
    "[Location]": Kind.LOCATION,
    "[实时位置共享]": Kind.LOCATION,
    "[Real-time Location]": Kind.LOCATION,
    "[文件]": Kind.FILE,
    "[File]": Kind.FILE,
    "[链接]": Kind.LINK,
    "[Link]": Kind.LINK,
    "[个人名片]": Kind.CONTACT_CARD,
    "[Contact Card]": Kind.CONTACT_CARD,
    "[视频号名片]": Kind.CONTACT_CARD,
    "[Channel Card]": Kind.CONTACT_CARD,
}
_TRANSFER = re.compile(r"^(?:微信转账|Weixin Transfer) |^(?:向.{1,60}转账|来自.{1,60}的转账)")
_BODY_PATTERNS = (
    (re.compile(r"^\[(?:语音|Audio) [^\]]*\]$"), Kind.VOICE),
    (re.compile(r"^\[(?:位置|Location)\] "), Kind.LOCATION),
    (re.compile(r"^\[(?:文件|File): .*\]$"), Kind.FILE),
    (re.compile(r"^\[(?:个人名片|视频号名片|Contact Card|Channel Card)\] "), Kind.CONTACT_CARD),
    (_TRANSFER, Kind.TRANSFER),
    (re.compile(r" - 视频号 "), Kind.LINK),
)


def detect(path: Path) -> float:
    lines = head(path).replace("\r\n", "\n").split("\n")
    headers = sum(1 for line in lines[:200] if _HEADER.match(line))
    if lines and _TITLE.match(lines[0]):
        return 1.0 if headers else 0.8
    filled = sum(1 for line in lines[:200] if line.strip())
    return 0.6 if headers >= 3 and headers * 3 >= filled else 0.0


@dataclass
class _Draft:
    """A message being read: its first line and the continuation lines that follow."""

    name: str
    time: str
    lines: list[str]
    kind: Kind | None = None  # None: decide from the first line
    line: int = 0


def parse(path: Path, options: ParseOptions) -> Iterator[Message]:
    try:
        with open_text(path, options, newline=None) as f:
            lines = f.read().split("\n")
    except UnicodeDecodeError as error:
        raise decode_error(path, error) from error
    title = _TITLE.match(lines[0]) if lines else None
    chat_name = title.group("chat") if title else readable(path.stem)
    first = 1 if title else 0

    numbered = _drop_forwarded(list(enumerate(lines[first:], start=first + 1)))
    speakers = _speakers(numbered)
    owners = owner_names(path, speakers, chat_name, options, "WechatExporter TXT")
    known = sorted(speakers, key=len, reverse=True)
    yield from _Reader(path, chat_name, owners, speakers, options).read(_unglue(numbered, known))


def _drop_forwarded(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Replace each forwarded-chat block by one FORWARDED line: its messages are not this chat's.
    An opening line without its close stays a plain line."""
    ends = _forward_ends([line for _, line in lines])
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        end = ends.get(i)
        out.append((lines[i][0], FORWARDED) if end is not None else lines[i])
        i = i + 1 if end is None else end + 1
    return out


def _forward_ends(lines: list[str]) -> dict[int, int]:
    """Each `<< title` line's closing `title 结束 >>` line, matched as brackets (blocks of the same title
    nest), one stack per title: one pass, where scanning ahead from every opening line was quadratic
    in the unclosed `<< a` lines a friend can type (issue 27)."""
    open_lines: dict[str, list[int]] = {}
    ends: dict[int, int] = {}
    for j, text in enumerate(lines):
        for template in _FORWARD_CLOSE:
            suffix = template.format("")
            if text.endswith(suffix) and open_lines.get(text[: -len(suffix)]):
                ends[open_lines[text[: -len(suffix)]].pop()] = j
        opened = _FORWARD_OPEN.match(text)
        if opened:
            open_lines.setdefault(opened.group("title"), []).append(j)
    return ends


def _speakers(lines: list[tuple[int, str]]) -> dict[str, int]:
    """Message counts by name. A transfer's memo line starts with the memo glued onto the next
    name, so a header right after an unterminated transfer does not name anyone."""
    speakers: dict[str, int] = {}
    memo_next = False
    for _, line in lines:
        m = _HEADER.match(line)
        if m and not memo_next:
            speakers[m.group("name")] = speakers.get(m.group("name"), 0) + 1
        memo_next = bool(m and _TRANSFER.search(m.group("body")) and not _EMBEDDED.search(m.group("body")))
    return speakers


def _unglue(lines: list[tuple[int, str]], known: list[str]) -> list[tuple[int, str]]:
    """A message glued onto the end of a line is cut off onto its own line."""
    out: list[tuple[int, str]] = []
    for number, line in lines:
        cuts = [0]
        if "):" in line:
            for m in _EMBEDDED.finditer(line):
                before = line[: m.start()]
                for name in known:
                    if before.endswith(name):
                        if m.start() - len(name) > cuts[-1]:
                            cuts.append(m.start() - len(name))
                        break
        if len(cuts) == 1:
            out.append((number, line))
        else:
            cuts.append(len(line))
            out.extend((number, line[a:b]) for a, b in itertools.pairwise(cuts))
    return out


class _Reader:
    """The second pass: a small state machine over the lines, one message in progress at a time."""

    def __init__(self, path: Path, chat: str, owners: set[str], speakers: dict[str, int], options: ParseOptions):
        others = [name for name in speakers if name not in owners]
        self.path = path
        self.chat = chat
        self.owners = owners
        self.owner = max(owners, key=lambda name: (speakers.get(name, 0), name))
        self.friend = others[0] if len(others) == 1 else ""
        self.speakers = set(speakers)
        self.is_group = len(others) > 1
        self.options = options
        self.last_time = ""
        self.early_notices: list[tuple[Kind, int]] = []  # notices before the first message

    def read(self, lines: list[tuple[int, str]]) -> Iterator[Message]:
        draft: _Draft | None = None
        i = 0
        while i < len(lines):
            number, line = lines[i]
            i += 1
            m = _HEADER.match(line) or self._old_share(line)
            if m:
                yield from self._finish(draft)
                kind = Kind.LINK if m.re is _OLD_SHARE else None
                draft = _Draft(m.group("name"), m.group("time"), [m.group("body")], kind, number)
                continue
            if line is FORWARDED:
                if draft is not None:
                    draft.kind = Kind.FORWARD
                continue
            if is_notice_line(line):
                yield from self._finish(draft)
                draft = None
                if self.last_time:
                    yield from self._message("", self.last_time, "", notice_kind(line), number)
                else:  # no time yet: it takes the first message's
                    self.early_notices.append((notice_kind(line), number))
                continue
            quote = _QUOTE_OPEN.match(line)
            if quote:
                rule = self._quote_rule(lines, i - 1)
                if rule is not None:
                    yield from self._finish(draft)
                    draft = self._quote(quote.group("name"), number)
                    i = rule + 1
                    continue
            if draft is None:
                if line.strip():
                    self.options.diagnostics.malformed(self.path, number, "text outside any message")
                continue
            draft.lines.append(line)
        yield from self._finish(draft)

    def _old_share(self, line: str) -> re.Match[str] | None:
        m = _OLD_SHARE.match(line)
        return m if m and m.group("name") in self.speakers else None

    @staticmethod
    def _quote_rule(lines: list[tuple[int, str]], start: int) -> int | None:
        for j in range(start + 1, min(start + _QUOTE_LOOKAHEAD, len(lines))):
            if lines[j][1] == _QUOTE_RULE and lines[j - 1][1].endswith("」"):
                return j
        return None

    def _quote(self, quoted: str, number: int) -> _Draft | None:
        if not self.last_time:
            self.options.diagnostics.malformed(self.path, number, "quoted reply before any message")
            return None
        if self.is_group or not self.friend:
            return _Draft("", self.last_time, [], Kind.UNATTRIBUTED, number)
        replier = self.friend if quoted in self.owners else self.owner
        return _Draft(replier, self.last_time, [], Kind.QUOTE, number)

    def _finish(self, draft: _Draft | None) -> Iterator[Message]:
        if draft is None:
            return
        while draft.lines and not draft.lines[-1].strip():
            draft.lines.pop()
        kind = draft.kind or _body_kind(draft.lines)
        text = "\n".join(draft.lines) if kind in (Kind.TEXT, Kind.QUOTE) else ""
        yield from self._message(draft.name, draft.time, text, kind, draft.line)

    def _message(self, name: str, time: str, text: str, kind: Kind, number: int) -> Iterator[Message]:
        try:
            timestamp = parse_time(time, self.options.timezone)
        except ValueError as error:
            self.options.diagnostics.malformed(self.path, number, str(error))
            return
        self.last_time = time
        for notice, _ in self.early_notices:
            yield Message(self.path.stem, self.chat, "", "", False, timestamp, "", notice, self.is_group)
        self.early_notices.clear()
        yield Message(self.path.stem, self.chat, name, name, name in self.owners, timestamp, text, kind, self.is_group)


def _body_kind(lines: list[str]) -> Kind:
    body = lines[0] if lines else ""
    if not body:
        return Kind.TEXT if len(lines) > 1 else Kind.RED_PACKET  # a red packet renders as an empty body
    kind = _BODY_KINDS.get(body)
    if kind is not None:
        return kind
    for pattern, kind in _BODY_PATTERNS:
        if pattern.search(body):
            return kind
    return Kind.TEXT
