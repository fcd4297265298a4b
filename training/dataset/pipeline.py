"""Wire the steps: exports → messages → cleaned chats → sessions → samples → train/dev files.

Everything is read before anything is written, so a bad input stops the run with nothing on
disk. Parsing and cleaning run once per message in one lean loop (it bounds the 1M-message
benchmark); decisions that need a whole chat (is it a group? allowed? duplicates?) run once per
chat. Privacy redaction runs last, on the text that is actually written, so its counts are exact.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tqdm import tqdm

from training.dataset.clean import Cleaner, drop_duplicates
from training.dataset.privacy import REDACT_MODES, Redactor, compile_words, load_word_list
from training.dataset.report import Stats, build_report
from training.dataset.sessions import Limits, Window, samples_of, split_sessions, turns_of
from training.dataset.split import split_by_time
from training.dataset.tokens import token_counter
from training.dataset.writer import LLAMAFACTORY_DIR, json_document, jsonl, llamafactory_info, sharegpt, write_files
from training.formats import registry
from training.formats.message import DEFAULT_TIMEZONE, Diagnostics, ExportFormatError, Message, ParseOptions

OWNER_PLACEHOLDER_NAMES = ("", "我", "me", "Me")
OWNER_NAME_SAMPLE = 2000
_timestamp = attrgetter("timestamp")


@dataclass
class PipelineOptions:
    out: Path
    format: str = "auto"
    me: tuple[str, ...] = ()
    system_prompt: str | None = None  # None: the default persona prompt; "": no system message
    owner_name: str | None = None
    session_gap: float = 3600
    include_groups: bool = False
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    redact_words: Path | None = None
    redact_mode: str = "redact"
    privacy: bool = True
    max_message_chars: int = 500
    dedupe_min_chars: int = 50
    max_turns: int = 24
    max_tokens: int = 1024
    dev_fraction: float = 0.1
    llamafactory: bool = False
    timezone: str = DEFAULT_TIMEZONE
    tokenizer: str | None = None
    progress: bool = False

    def validate(self) -> None:
        checks = (
            (self.session_gap > 0, "--session-gap must be positive"),
            (self.max_message_chars > 0, "--max-message-chars must be positive"),
            (self.max_turns >= 2, "--max-turns must be at least 2 (one user and one owner turn)"),
            (self.max_tokens > 0, "--max-tokens must be positive"),
            (0 <= self.dev_fraction < 1, "--dev-fraction must be in [0, 1)"),
            (self.redact_mode in REDACT_MODES, f"--redact-mode must be one of {', '.join(REDACT_MODES)}"),
            (not self.out.exists() or self.out.is_dir(), f"--out {self.out} is a file, not a folder"),
        )
        for ok, problem in checks:
            if not ok:
                raise ValueError(problem)


def default_system_prompt(owner_name: str | None) -> str:
    style = "语气、用词、表情和分段都保持一致。"
    if owner_name:
        return f"你是{owner_name}。你正在微信上和朋友聊天，像{owner_name}平时那样回复：{style}"
    return f"你正在微信上和朋友聊天，像平时的自己那样回复：{style}"


@dataclass(slots=True)
class _Chat:
    """What is known about one chat while reading: its kept messages and its drops by reason."""

    id: str
    name: str = ""
    group: bool | None = None
    messages: list[Message] = field(default_factory=list)
    drops: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Session:
    chat: str
    start: float
    windows: list[Window]


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """The pipeline holds millions of small objects and creates no reference cycles; left on,
    the cycle collector rescans them all over and over (a third of the run at 1M messages)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run(inputs: Sequence[Path], options: PipelineOptions) -> dict[str, Any]:
    """Build the dataset under `options.out` and return the report (also written as report.json)."""
    with _cycle_collector_paused():
        return _run(inputs, options)


def _run(inputs: Sequence[Path], options: PipelineOptions) -> dict[str, Any]:
    options.validate()
    try:
        zone = ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"--timezone {options.timezone!r} is not a known time zone") from error
    diagnostics = Diagnostics()
    files = registry.resolve(inputs, options.format, diagnostics)
    try:
        words = compile_words(load_word_list(options.redact_words)) if options.redact_words else None
    except ValueError as error:
        raise ValueError(f"--redact-words {options.redact_words}: {error}") from error
    redactor = Redactor(enabled=options.privacy, words=words, mode=options.redact_mode)
    cleaner = Cleaner(options.max_message_chars, options.dedupe_min_chars)
    stats = Stats()
    parse_options = ParseOptions(me=options.me, timezone=zone, diagnostics=diagnostics)

    chats, owner_messages, per_file = _read(files, parse_options, cleaner, redactor, options.progress)
    stats.messages_read = sum(f["messages"] for f in per_file)
    if not owner_messages:
        raise _no_owner_error(inputs, chats, options.me)

    owner_name = options.owner_name or (options.me[0] if options.me else _likely_owner_name(chats))
    system_prompt = default_system_prompt(owner_name) if options.system_prompt is None else options.system_prompt
    try:
        counter = token_counter(options.tokenizer)
    except (ImportError, OSError, ValueError) as error:
        raise ValueError(f"--tokenizer {options.tokenizer}: cannot load it ({error})") from error
    system_tokens = counter.count(system_prompt) if system_prompt else 0
    limits = Limits(options.max_turns, options.max_tokens, system_tokens)

    sessions = _sessions(chats, options, counter.count, limits, stats)
    train, dev = split_by_time(sessions, options.dev_fraction)
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    train_records = _records(train, system, system_tokens, redactor, zone, stats)
    dev_records = _records(dev, system, system_tokens, redactor, zone, stats)
    stats.samples_train, stats.samples_dev = len(train_records), len(dev_records)
    if not train_records:
        diagnostics.warn(
            "no training samples: no chat had the other side talk and the owner answer "
            "(groups need --include-groups; check --allow, --deny and --me)"
        )

    report = build_report(
        stats,
        inputs=per_file,
        owner_name=owner_name,
        system_prompt=system_prompt or None,
        redactions=dict(redactor.counts),
        links_replaced=cleaner.links,
        token_counter=counter.name,
        malformed_count=diagnostics.malformed_count,
        malformed_examples=diagnostics.malformed_examples,
        warnings=diagnostics.warnings,
        settings=_settings(options),
    )
    outputs = {"train.jsonl": jsonl(train_records), "dev.jsonl": jsonl(dev_records)}
    if options.llamafactory:
        outputs[f"{LLAMAFACTORY_DIR}/train.jsonl"] = jsonl(map(sharegpt, train_records))
        outputs[f"{LLAMAFACTORY_DIR}/dev.jsonl"] = jsonl(map(sharegpt, dev_records))
        outputs[f"{LLAMAFACTORY_DIR}/dataset_info.json"] = json_document(llamafactory_info(("train", "dev")))
    outputs["report.json"] = json_document(report)
    write_files(options.out, outputs)
    return report


def _read(files, parse_options: ParseOptions, cleaner: Cleaner, redactor: Redactor, progress: bool):
    """The per-message loop: parse, clean, and file each message under its chat.

    Kept lean on purpose: it runs once per message and bounds the whole pipeline's speed, so
    anything that can be worked out from a chat's kept messages later (speakers, duplicates,
    the owner's name) is, once per chat.
    """
    chats: dict[str, _Chat] = {}
    owner_messages = 0
    per_file: list[dict[str, Any]] = []
    total = sum(path.stat().st_size for path, _ in files)
    clean = cleaner.clean
    drop_listed = redactor.should_drop if redactor.drop_matches else None
    with tqdm(total=total, unit="B", unit_scale=True, desc="reading", disable=not progress, leave=False) as bar:
        parse_options.on_read = bar.update if progress else None
        for path, export_format in files:
            count = 0
            for message in export_format.parse(path, parse_options):
                count += 1
                chat = chats.get(message.chat_id)
                if chat is None:
                    chat = chats[message.chat_id] = _Chat(message.chat_id, message.chat_name)
                elif not chat.name:
                    chat.name = message.chat_name
                if message.is_me:
                    owner_messages += 1
                if message.is_group is not None and chat.group is not True:
                    chat.group = message.is_group
                reason = clean(message)
                if not reason and drop_listed is not None and drop_listed(message.text):
                    reason = "redact_word"
                if reason:
                    chat.drops[reason] = chat.drops.get(reason, 0) + 1
                else:
                    chat.messages.append(message)
            per_file.append({"path": str(path), "format": export_format.NAME, "messages": count})
    return chats, owner_messages, per_file


def _sessions(chats: dict[str, _Chat], options: PipelineOptions, count, limits: Limits, stats: Stats) -> list[_Session]:
    """Per chat: decide whether it is used at all, then cut it into sessions and windows."""
    allow, deny = set(options.allow), set(options.deny)
    sessions: list[_Session] = []
    for chat in chats.values():
        stats.chats += 1
        read = len(chat.messages) + sum(chat.drops.values())
        is_group = chat.group if chat.group is not None else _speakers(chat.messages) > 1
        stats.group_chats += is_group
        names = {chat.id, chat.name}
        if names & deny:
            stats.drop("denied_contact", read)
            continue
        if allow and not names & allow:
            stats.drop("not_in_allow_list", read)
            continue
        if is_group and not options.include_groups:
            stats.group_chats_excluded += 1
            stats.drop("group_chat", read)
            continue
        stats.merge_drops(chat.drops)
        chat.messages.sort(key=_timestamp)
        chat.messages, duplicates = drop_duplicates(chat.messages)
        stats.drop("duplicate", duplicates)
        key = hashlib.sha256(chat.id.encode()).hexdigest()[:12]
        used = False
        for session in split_sessions(chat.messages, options.session_gap):
            windows, drops = samples_of(turns_of(session, is_group, count), limits)
            stats.merge_drops(drops)
            if windows:
                stats.sessions += 1
                sessions.append(_Session(key, session[0].timestamp, windows))
                used = True
            else:
                stats.sessions_dropped += 1
        stats.chats_used += used
        chat.messages = []  # free as we go: peak memory stays one copy of the kept text
    return sessions


def _records(sessions, system: list[dict[str, str]], system_tokens: int, redactor: Redactor, zone, stats: Stats):
    records = []
    redact = redactor.redact
    for session in sessions:
        start = datetime.fromtimestamp(session.start, zone).isoformat()
        for window in session.windows:
            turns = [{"role": turn.role, "content": redact(turn.text)} for turn in window.turns]
            records.append({"messages": system + turns, "chat": session.chat, "session_start": start})
            stats.turns += len(window.turns)
            stats.messages_kept += window.messages
            stats.token_lengths.append(system_tokens + window.tokens)
    return records


def _speakers(messages: list[Message]) -> int:
    """Distinct speakers on the other side; only kept text counts, so notices add no speaker."""
    return len({m.sender_id or m.sender_name for m in messages if not m.is_me})


def _likely_owner_name(chats: dict[str, _Chat]) -> str | None:
    """The name most of the owner's messages carry, if the export names the owner at all
    (MemoTrace's all-messages CSV only says 我). A sample per chat is enough to tell."""
    counts: dict[str, int] = {}
    for chat in chats.values():
        for message in chat.messages[:OWNER_NAME_SAMPLE]:
            name = message.sender_name
            if message.is_me and name not in OWNER_PLACEHOLDER_NAMES and not name.startswith("wxid_"):
                counts[name] = counts.get(name, 0) + 1
    return max(counts, key=lambda n: (counts[n], n)) if counts else None


def _no_owner_error(inputs: Sequence[Path], chats: dict[str, _Chat], me: tuple[str, ...]) -> ExportFormatError:
    counts: dict[str, int] = {}
    for chat in chats.values():
        for message in chat.messages:
            name = message.sender_name or message.sender_id
            counts[name] = counts.get(name, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    speakers = ", ".join(f"{name} ({n})" for name, n in top) or "none"
    problem = "no messages from the owner"
    if me:
        problem += f": --me {' / '.join(me)} matches no speaker"
    where = ", ".join(map(str, inputs[:3])) + (", ..." if len(inputs) > 3 else "")
    return ExportFormatError(where, f"{problem} (speakers: {speakers})")


def _settings(options: PipelineOptions) -> dict[str, Any]:
    return {
        "format": options.format,
        "session_gap": options.session_gap,
        "include_groups": options.include_groups,
        "privacy": options.privacy,
        "redact_mode": options.redact_mode,
        "max_message_chars": options.max_message_chars,
        "dedupe_min_chars": options.dedupe_min_chars,
        "max_turns": options.max_turns,
        "max_tokens": options.max_tokens,
        "dev_fraction": options.dev_fraction,
        "timezone": options.timezone,
    }
