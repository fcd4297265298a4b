"""Wire the steps: exports → message table → cleaned, per-chat decisions → turns → samples → files.

Everything is read before anything is written, so a bad input stops the run with nothing on
disk. Messages are one polars table from reading to turns (`wechat_twin.training.formats.support.table`): cleaning,
the per-chat decisions (is it a group? allowed? duplicates?), sorting and cutting into sessions
and turns run natively over all of them at once, and Python walks turns, not messages. Privacy
redaction runs last, on the text that is actually written, so its counts are exact.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from tqdm import tqdm

from wechat_twin.errors import UsageError, readable
from wechat_twin.memory.facts import read_facts
from wechat_twin.memory.store import MEMORY_FILE, session_key
from wechat_twin.options import option
from wechat_twin.training.dataset.clean import KEPT, clean, drop_duplicates
from wechat_twin.training.dataset.memory_file import exchange_columns, memory_file
from wechat_twin.training.dataset.privacy import RedactMode, Redactor, compile_words, load_word_list
from wechat_twin.training.dataset.report import Stats, build_report
from wechat_twin.training.dataset.rhythm import RhythmEvents, events, measure
from wechat_twin.training.dataset.sessions import ASSISTANT, USER, Limits, Span, turn_table, windows_of
from wechat_twin.training.dataset.split import split_by_time
from wechat_twin.training.dataset.tokens import token_counter
from wechat_twin.training.dataset.window import Sorting, identity_of, recorded_options, session_digest, window
from wechat_twin.training.dataset.writer import (
    LLAMAFACTORY_DIR,
    BuiltAt,
    json_document,
    jsonl,
    llamafactory_info,
    sharegpt,
    write_files,
)
from wechat_twin.training.formats import registry
from wechat_twin.training.formats.registry import FormatChoice
from wechat_twin.training.formats.support import table
from wechat_twin.training.formats.support.message import DEFAULT_TIMEZONE, Diagnostics, ExportFormatError, ParseOptions

OWNER_PLACEHOLDER_NAMES = ("", "我", "me", "Me")
KEPT_COLUMNS = ("chat_id", "sender_id", "sender_name", "is_me", "timestamp", "text", "order")


@dataclass
class PipelineOptions:
    """`twin-train data`'s options, declared once: the command's options are generated from these fields."""

    out: Path = option(dataclasses.MISSING, "--out", "-o", help="Folder for train.jsonl, dev.jsonl, report.json")
    format: FormatChoice = option(FormatChoice(registry.AUTO), "--format", help="Export format; auto detects it")
    me: tuple[str, ...] = option(
        (), "--me", help="The owner's display name or id where the export does not mark the owner (repeatable)"
    )
    # None: the default persona prompt; "": no system message
    system_prompt: str | None = option(
        None, help="Persona prompt for every sample; '' for none. Default names the owner"
    )
    owner_name: str | None = option(None, help="The owner's name for the default persona prompt")
    session_gap: float = option(3600, help="Seconds of silence that start a new session")
    include_groups: bool = option(False, help="Also learn from group chats (excluded by default)")
    allow: tuple[str, ...] = option((), help="Only these chats, by name or id (repeatable)")
    deny: tuple[str, ...] = option((), help="Never these chats, by name or id (repeatable)")
    redact_words: Path | None = option(
        None, help="File of words (or re:PATTERN lines) to redact", exists=True, dir_okay=False
    )
    redact_mode: RedactMode = option(RedactMode.REDACT, help="redact: replace listed words; drop: drop their messages")
    redact_names: bool = option(
        False, "--redact-names", help="Replace contacts' names (remarks, nicknames) with <name> in both sides' text"
    )
    privacy: bool = True  # the command's --no-privacy turns it off
    max_message_chars: int = option(500, help="Drop longer messages (pasted articles)")
    dedupe_min_chars: int = option(50, help="Drop repeats of texts at least this long (spam)")
    max_turns: int = option(24, help="Turns per sample; longer sessions are windowed")
    max_tokens: int = option(1024, help="Tokens per sample, system prompt included")
    dev_fraction: float = option(0.1, help="Share of each chat's latest sessions held out")
    llamafactory: bool = option(False, help="Also write LLaMA-Factory sharegpt files")
    timezone: str = option(DEFAULT_TIMEZONE, help="Zone of local times in the exports")
    tokenizer: str | None = option(None, help="Count tokens with this tokenizer (path or hub id); default: estimate")
    memory: bool = option(True, "--memory/--no-memory", help="Also write memory.sqlite: past exchanges per contact")
    facts: Path | None = option(
        None, help="Facts file for the memory: global lines, then [contact] sections", exists=True, dir_okay=False
    )
    progress: bool = False
    # `twin-train update`: the sessions an adapter trained on (identity -> digest); only others are written
    known_sessions: dict[str, str] | None = None
    known_last: str | None = None  # that adapter's last message time, to say how many new sessions are newer

    @classmethod
    def from_record(cls, record: dict[str, Any], out: Path) -> PipelineOptions:
        """The options a dataset's report recorded (`recorded_options`), writing to `out`."""
        given = dict(record)
        for name in ("me", "allow", "deny"):
            given[name] = tuple(given.get(name) or ())
        for name in ("redact_words", "facts"):
            given[name] = Path(given[name]) if given.get(name) else None
        given["format"] = FormatChoice(given.get("format", registry.AUTO))
        given["redact_mode"] = RedactMode(given.get("redact_mode", RedactMode.REDACT))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(out=out, **{k: v for k, v in given.items() if k in known})

    def validate(self) -> None:
        checks = (
            (self.session_gap > 0, "--session-gap must be positive"),
            (self.max_message_chars > 0, "--max-message-chars must be positive"),
            (self.max_turns >= 2, "--max-turns must be at least 2 (one user and one owner turn)"),
            (self.max_tokens > 0, "--max-tokens must be positive"),
            (0 <= self.dev_fraction < 1, "--dev-fraction must be in [0, 1)"),
            (not self.out.exists() or self.out.is_dir(), f"--out {self.out} is a file, not a folder"),
            (self.memory or self.facts is None, "--facts needs the memory file: drop --no-memory"),
        )
        for ok, problem in checks:
            if not ok:
                raise UsageError(problem)


def default_system_prompt(owner_name: str | None) -> str:
    style = "语气、用词、表情和分段都保持一致。"
    if owner_name:
        return f"你是{owner_name}。你正在微信上和朋友聊天，像{owner_name}平时那样回复：{style}"
    return f"你正在微信上和朋友聊天，像平时的自己那样回复：{style}"


@dataclass(slots=True)
class _Session:
    chat: str
    start: float
    windows: list[Span]  # pairs of turns, by where they start in `_Turns`
    number: int  # the session's number in the turn table, which the rhythm's events carry too
    end: float = 0.0  # its last message's time


@dataclass(slots=True)
class _Turns:
    """Every turn of the used chats as flat columns (no object per turn): what windows point into."""

    texts: list[str]
    may_identify: list[bool]  # False: the privacy filter has nothing to find in the text


@dataclass
class _Built:
    """Everything a run makes, before anything is written."""

    report: dict[str, Any]
    outputs: dict[str, Any]
    rhythm: tuple[RhythmEvents, RhythmEvents]  # (every session but the dev split's, the dev split's)
    names: dict[str, tuple[str, ...]]  # chat id -> the names a contact may be known by


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """The pipeline holds hundreds of thousands of turns and creates no reference cycles; left
    on, the cycle collector rescans them all over and over."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run(inputs: Sequence[registry.Source], options: PipelineOptions) -> dict[str, Any]:
    """Build the dataset under `options.out` and return the report (also written as report.json)."""
    with _cycle_collector_paused():
        return _run(inputs, options)


def _run(inputs: Sequence[registry.Source], options: PipelineOptions) -> dict[str, Any]:
    built = _build(inputs, options)
    write_files(options.out, built.outputs)
    return built.report


def rhythm_splits(
    inputs: Sequence[registry.Source], options: PipelineOptions
) -> tuple[RhythmEvents, RhythmEvents, dict[str, tuple[str, ...]]]:
    """The rhythm's events outside and inside the dev split, and each chat's names, nothing written: what
    `bench/rhythm.py` replays the bridge's timing against."""
    with _cycle_collector_paused():
        built = _build(inputs, options)
    return *built.rhythm, built.names


def _build(inputs: Sequence[registry.Source], options: PipelineOptions) -> _Built:
    options.validate()
    try:
        zone = ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise UsageError(f"--timezone {options.timezone!r} is not a known time zone") from error
    diagnostics = Diagnostics()
    files = registry.resolve(inputs, FormatChoice(options.format).value, diagnostics)
    try:
        words = compile_words(load_word_list(options.redact_words)) if options.redact_words else None
    except ValueError as error:
        raise UsageError(f"--redact-words {options.redact_words}: {error}") from error
    redactor = Redactor(enabled=options.privacy, words=words, mode=options.redact_mode)
    facts = read_facts(options.facts) if options.facts else None
    if facts and facts.not_shared():
        diagnostics.warn(
            f"{options.facts}: {facts.not_shared()} facts before the first section are shared with nobody and go "
            "into no prompt; put the ones every contact may be told under [*]"
        )
    stats = Stats()
    parse_options = ParseOptions(me=options.me, chats=options.allow, timezone=zone, diagnostics=diagnostics)

    messages, per_file = _read(files, parse_options, options.progress)
    stats.messages_read = messages.height
    messages, links = clean(messages, options.max_message_chars, options.dedupe_min_chars)
    if redactor.drop_matches:
        messages = _drop_listed_words(messages, redactor)
    chats, drops, has_owner = _chat_summary(messages), _drops_by_chat(messages), messages["is_me"].any()
    kept = messages.filter(pl.col("reason") == KEPT).select(KEPT_COLUMNS)
    del messages  # a copy of every message read: freeing it here lowers the peak by a third
    if not has_owner:
        raise _no_owner_error(inputs, kept, options.me)

    if options.redact_names:
        redactor.use_names(contact_names(chats, kept))
    owner_name = options.owner_name or (options.me[0] if options.me else _likely_owner_name(kept))
    system_prompt = default_system_prompt(owner_name) if options.system_prompt is None else options.system_prompt
    try:
        counter = token_counter(options.tokenizer)
    except (ImportError, OSError, ValueError) as error:
        raise UsageError(f"--tokenizer {options.tokenizer}: cannot load it ({error})") from error
    system_tokens = counter.count(system_prompt) if system_prompt else 0
    limits = Limits(options.max_turns, options.max_tokens, system_tokens)

    sessions, turns, observed = _sessions(chats, drops, kept, options, counter.count, limits, redactor, stats)
    digests = _digests(sessions, turns, zone)
    sorting = None
    if options.known_sessions is not None:
        sorting = Sorting(options.known_sessions, last=options.known_last)
        sessions = [s for s in sessions if sorting.keep(*digests[s.number])]
    train, dev = split_by_time(sessions, options.dev_fraction)
    dev_numbers = {session.number for session in dev}
    rhythm = (observed.sessions(dev_numbers, keep=False), observed.sessions(dev_numbers))
    names = {chat_id: (chat_id, chat_name) for chat_id, chat_name in chats.select("chat_id", "chat_name").iter_rows()}
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    exchanges = exchange_columns() if options.memory else None
    train_records = _records(train, turns, system, system_tokens, redactor, zone, stats, exchanges)
    dev_records = _records(dev, turns, system, system_tokens, redactor, zone, stats)
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
        links_replaced=links,
        token_counter=counter.name,
        malformed_count=diagnostics.malformed_count,
        malformed_examples=diagnostics.malformed_examples,
        warnings=diagnostics.warnings,
        settings=_settings(options),
    )
    report["rhythm"] = measure(rhythm[0], names)
    report["options"] = recorded_options(options)
    report["window"] = _window(train, digests, zone)
    if sorting is not None:
        report["update"] = sorting.report()
    outputs = {"train.jsonl": jsonl(train_records), "dev.jsonl": jsonl(dev_records)}
    if exchanges is not None:
        build, report["memory"] = memory_file(exchanges, _aliases(chats), facts)
        outputs[MEMORY_FILE] = BuiltAt(build)
    if options.llamafactory:
        outputs[f"{LLAMAFACTORY_DIR}/train.jsonl"] = jsonl(map(sharegpt, train_records))
        outputs[f"{LLAMAFACTORY_DIR}/dev.jsonl"] = jsonl(map(sharegpt, dev_records))
        outputs[f"{LLAMAFACTORY_DIR}/dataset_info.json"] = json_document(llamafactory_info(("train", "dev")))
    outputs["report.json"] = json_document(report)
    return _Built(report, outputs, rhythm, names)


def _read(
    files: list[tuple[registry.Source, registry.ExportFormat]], parse_options: ParseOptions, progress: bool
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Every file's messages in one table, in reading order (`order`)."""
    tables: list[pl.DataFrame] = []
    per_file: list[dict[str, Any]] = []
    total = sum(path.stat().st_size for path, _ in files if isinstance(path, Path))
    with tqdm(total=total, unit="B", unit_scale=True, desc="reading", disable=not progress, leave=False) as bar:
        parse_options.on_read = bar.update if progress else None
        parse_options.progress = progress
        for path, export_format in files:
            tables.append(registry.read_table(path, export_format, parse_options))
            per_file.append({"path": readable(str(path)), "format": export_format.NAME, "messages": tables[-1].height})
    return table.concat(tables), per_file


def _drop_listed_words(messages: pl.DataFrame, redactor: Redactor) -> pl.DataFrame:
    """`--redact-mode drop`: the user's patterns are Python regular expressions, so they are
    matched in Python, on kept messages only."""
    kept = messages.filter(pl.col("reason") == KEPT)
    listed = pl.Series([redactor.should_drop(text) for text in kept["text"].to_list()], dtype=pl.Boolean)
    flags = pl.repeat(False, messages.height, eager=True).scatter(kept["order"], listed)
    return messages.with_columns(reason=pl.when(flags).then(pl.lit("redact_word")).otherwise(pl.col("reason")))


def _chat_summary(messages: pl.DataFrame) -> pl.DataFrame:
    """One row per chat, in reading order: its name (the first one given), whether the export
    flags it a group (null: it does not say), and how many of its messages were read."""
    name = pl.col("chat_name")
    return messages.group_by("chat_id", maintain_order=True).agg(
        name.filter(name != "").first().fill_null(""),
        pl.col("is_group").max(),
        pl.len().alias("read"),
    )


def _drops_by_chat(messages: pl.DataFrame) -> pl.DataFrame:
    return messages.filter(pl.col("reason") != KEPT).group_by("chat_id", "reason").len()


def _sessions(
    chats: pl.DataFrame,
    drops: pl.DataFrame,
    kept: pl.DataFrame,
    options: PipelineOptions,
    count: Callable[[str], int],
    limits: Limits,
    redactor: Redactor,
    stats: Stats,
) -> tuple[list[_Session], _Turns, RhythmEvents]:
    """Per chat: decide whether it is used at all; then cut the used chats into sessions and windows.
    The rhythm's events come from the same messages, with the same session numbers."""
    used = _used_chats(chats, kept, options, stats)
    used_drops = drops.filter(pl.col("chat_id").is_in(list(used))).group_by("reason").agg(pl.col("len").sum())
    for reason, n in used_drops.sort("reason").iter_rows():
        stats.drop(reason, n)
    ordered, duplicates = drop_duplicates(_by_chat_and_time(kept, used))
    stats.drop("duplicate", duplicates)
    turn_rows = turn_table(ordered, options.session_gap)
    observed = events(ordered, options.session_gap, options.timezone)
    columns = turn_rows.with_columns(may_identify=redactor.screen(pl.col("text")))
    turns = _Turns(columns["text"].to_list(), columns["may_identify"].to_list())
    tokens = list(map(count, turns.texts))
    is_me, messages = columns["is_me"].to_list(), columns["messages"].to_list()
    per_session = turn_rows.group_by("session", maintain_order=True).agg(
        pl.col("chat_id").first(), pl.col("start").first(), pl.len().alias("turns"), pl.col("end").last()
    )
    sessions: list[_Session] = []
    chats_with_samples: set[str] = set()
    keys: dict[str, str] = {}
    offset = 0
    for number, chat_id, start, n, end in per_session.iter_rows():
        windows, dropped = windows_of(is_me, tokens, messages, offset, offset + n, limits)
        offset += n
        if dropped:
            stats.merge_drops(dropped)
        if not windows:
            stats.sessions_dropped += 1
            continue
        stats.sessions += 1
        if chat_id not in keys:
            keys[chat_id] = chat_key(chat_id)
        sessions.append(_Session(keys[chat_id], start, windows, number, end))
        chats_with_samples.add(chat_id)
    stats.chats_used = len(chats_with_samples)
    return sessions, turns, observed


def _digests(sessions: list[_Session], turns: _Turns, zone: ZoneInfo) -> dict[int, tuple[str, str, str]]:
    """Per session (by number): its identity, digest and start (ISO), as `window.py` defines them."""
    out = {}
    for session in sessions:
        start = datetime.fromtimestamp(session.start, zone).isoformat()
        identity = identity_of(session.chat, start)
        texts = (turns.texts[i + side] for pairs, _, _ in session.windows for i in pairs for side in (0, 1))
        out[session.number] = (identity, session_digest(identity, texts), start)
    return out


def _window(train: list[_Session], digests: dict[int, tuple[str, str, str]], zone: ZoneInfo) -> dict[str, Any]:
    """The train split's sessions and its first and last message times: what an update leaves out."""
    first = min((s.start for s in train), default=None)
    last = max((s.end for s in train), default=None)
    iso = lambda t: None if t is None else datetime.fromtimestamp(t, zone).isoformat()  # noqa: E731
    return window(iso(first), iso(last), {digests[s.number][0]: digests[s.number][1] for s in train})


def chat_key(chat_id: str) -> str:
    """The dataset's `chat` field: a short hash, so the JSONL names no one."""
    return hashlib.sha256(chat_id.encode()).hexdigest()[:12]


def _aliases(chats: pl.DataFrame) -> dict[str, str]:
    """Every name a request may give a contact by (the dataset key, the export's id and chat name) -> the key."""
    aliases: dict[str, str] = {}
    for chat_id, chat_name in chats.select("chat_id", "chat_name").iter_rows():
        key = chat_key(chat_id)
        for alias in (key, chat_id, chat_name):
            if alias:
                aliases.setdefault(alias, key)
    return aliases


def _by_chat_and_time(kept: pl.DataFrame, used: dict[str, bool]) -> pl.DataFrame:
    """The used chats' kept messages, chat after chat in reading order, each by time (ties in
    reading order), with `in_group`. Exports are usually in time order already: then a stable
    sort by chat alone is the same and three times faster."""
    chats = pl.DataFrame(
        {"chat_id": list(used), "chat_index": range(len(used)), "in_group": list(used.values())},
        schema={"chat_id": pl.String, "chat_index": pl.Int64, "in_group": pl.Boolean},
    )
    joined = kept.join(chats, on="chat_id", how="inner", maintain_order="left")
    keys = ["chat_index"] if kept["timestamp"].is_sorted() else ["chat_index", "timestamp"]
    return joined.sort(keys, maintain_order=True)


def _used_chats(chats: pl.DataFrame, kept: pl.DataFrame, options: PipelineOptions, stats: Stats) -> dict[str, bool]:
    """The chats that go on to sessions (in reading order), each with whether it is a group; the
    others' messages are counted under the reason they are left out."""
    speakers = dict(_speakers(kept).iter_rows())
    allow, deny = set(options.allow), set(options.deny)
    used: dict[str, bool] = {}
    for chat_id, chat_name, flagged, read in chats.iter_rows():
        stats.chats += 1
        is_group = flagged if flagged is not None else speakers.get(chat_id, 0) > 1
        stats.group_chats += is_group
        names = {chat_id, chat_name}
        if names & deny:
            stats.drop("denied_contact", read)
        elif allow and not names & allow:
            stats.drop("not_in_allow_list", read)
        elif is_group and not options.include_groups:
            stats.group_chats_excluded += 1
            stats.drop("group_chat", read)
        else:
            used[chat_id] = is_group
    return used


def _speakers(kept: pl.DataFrame) -> pl.DataFrame:
    """Distinct speakers on the other side, per chat; only kept text counts, so notices add no speaker."""
    speaker = pl.when(pl.col("sender_id") != "").then(pl.col("sender_id")).otherwise(pl.col("sender_name"))
    return kept.filter(~pl.col("is_me")).group_by("chat_id").agg(speaker.n_unique())


def _records(
    sessions: list[_Session],
    turns: _Turns,
    system: list[dict[str, str]],
    system_tokens: int,
    redactor: Redactor,
    zone: ZoneInfo,
    stats: Stats,
    exchanges: dict[str, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """The samples, texts redacted; each window's (friend, owner) pairs also go into `exchanges` when given
    (the memory file's columns, `memory_file.exchange_columns`)."""
    records = []
    redact, texts, may_identify = redactor.redact, turns.texts, turns.may_identify
    for session in sessions:
        start = datetime.fromtimestamp(session.start, zone).isoformat()
        for pairs, messages, tokens in session.windows:
            window = []
            for i in pairs:
                user, owner = texts[i], texts[i + 1]
                window += (
                    {"role": USER, "content": redact(user) if may_identify[i] else user},
                    {"role": ASSISTANT, "content": redact(owner) if may_identify[i + 1] else owner},
                )
            records.append({"messages": system + window, "chat": session.chat, "session_start": start})
            stats.turns += len(window)
            stats.messages_kept += messages
            stats.token_lengths.append(system_tokens + tokens)
            if exchanges is not None:
                _add_exchanges(exchanges, window, session.chat, start)
    return records


def contact_names(chats: pl.DataFrame, kept: pl.DataFrame) -> list[str]:
    """Every name the exports give the owner's contacts: chat names (a remark, else a nickname) and the names the
    other side's messages carry, minus the placeholders exports use for the owner and raw wxid_ ids."""
    names = pl.concat([chats["chat_name"], kept.filter(~pl.col("is_me"))["sender_name"]]).unique().to_list()
    return sorted(n for n in names if n and n not in OWNER_PLACEHOLDER_NAMES and not n.startswith("wxid_"))


def _add_exchanges(exchanges: dict[str, list[str]], window: list[dict[str, str]], chat: str, start: str) -> None:
    n = len(window) // 2
    exchanges["contact"] += [chat] * n
    exchanges["session"] += [session_key(chat, start)] * n
    exchanges["time"] += [start] * n
    exchanges["friend"] += [message["content"] for message in window[::2]]
    exchanges["owner"] += [message["content"] for message in window[1::2]]


def _likely_owner_name(kept: pl.DataFrame) -> str | None:
    """The name most of the owner's messages carry, if the export names the owner at all
    (MemoTrace's all-messages CSV only says 我)."""
    names = kept.filter(pl.col("is_me")).group_by("sender_name").len().iter_rows()
    counts = {n: c for n, c in names if n not in OWNER_PLACEHOLDER_NAMES and not n.startswith("wxid_")}
    return max(counts, key=lambda n: (counts[n], n)) if counts else None


def _no_owner_error(inputs: Sequence[registry.Source], kept: pl.DataFrame, me: tuple[str, ...]) -> ExportFormatError:
    counts = kept.group_by(table.display_name().alias("name")).len().iter_rows()
    top = sorted(counts, key=lambda kv: (-kv[1], kv[0]))[:10]
    speakers = ", ".join(f"{name} ({n})" for name, n in top) or "none"
    problem = "no messages from the owner"
    if me:
        problem += f": --me {' / '.join(me)} matches no speaker"
    where = ", ".join(map(str, inputs[:3])) + (", ..." if len(inputs) > 3 else "")
    return ExportFormatError(where, f"{problem} (speakers: {speakers})")


def _settings(options: PipelineOptions) -> dict[str, Any]:
    return {
        "format": FormatChoice(options.format).value,
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
        "memory": options.memory,
        **({"redact_names": True} if options.redact_names else {}),  # absent when off: older reports stay as they were
    }
