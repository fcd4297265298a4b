"""`twin-train compare A B --data DATA_DIR`: which of two versions of a clone is closer to its owner?

Both are scored as `twin-train eval` scores one (the same engine, prompts, perplexity and style code) on the
newest dev conversations, the ones a newer version was not trained on: the perplexity of the owner's real
replies, the style of greedy replies against the owner's, and the memory rows when there is a memory. The
perplexity of what the owner really wrote decides (it reads every token of every reply, where style reads a
few habits of generated ones); the style distance is shown beside it, and said when it disagrees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from wechat_twin import output
from wechat_twin.errors import TwinError, UsageError
from wechat_twin.memory.store import MEMORY_FILE
from wechat_twin.names import is_plain_name, versioned
from wechat_twin.server.adapters.adapter_memory import open_memory
from wechat_twin.server.adapters.card import TwinCard, read_card
from wechat_twin.server.adapters.versions import read_promotion, record_path, versions_of
from wechat_twin.server.basemodel import HubOptions, resolve_base_model
from wechat_twin.server.basemodel.options import HubOpt, RevisionOpt
from wechat_twin.server.engines.base import EngineKind
from wechat_twin.training.common.samples import Messages, Origin, read_sample_file
from wechat_twin.training.evaluate import memory_rows
from wechat_twin.training.evaluate.command import memory_report
from wechat_twin.training.evaluate.generate import generate_replies
from wechat_twin.training.evaluate.options import (
    DEFAULT_ENGINE,
    DEFAULT_REPLY_TOKENS,
    BaseModelOpt,
    EngineOpt,
    ReplyTokensOpt,
)
from wechat_twin.training.evaluate.perplexity import base_and_adapter_perplexity
from wechat_twin.training.evaluate.report import memory_table
from wechat_twin.training.evaluate.sources import memory_of, trained_on
from wechat_twin.training.evaluate.style import STYLE_KEYS, style_distance, style_of


def find_adapter(name: str, adapters: Path) -> Path:
    """A folder path, else a folder of `adapters` (`me@1`), else a bare clone name as the server serves it:
    its promoted version, or its highest."""
    for folder in (Path(name).expanduser(), adapters / name):
        if (folder / "adapter_config.json").is_file():
            return folder.resolve()
    if is_plain_name(name) and adapters.is_dir() and (numbers := versions_of(adapters, name)):
        try:
            promotion = read_promotion(record_path(adapters, name))
        except ValueError as exc:
            raise TwinError(str(exc)) from exc
        return find_adapter(versioned(name, promotion.version if promotion else numbers[-1]), adapters)
    raise TwinError(f"{name}: no adapter folder by that path, nor in {adapters} (pass --adapters)")


def newest(samples: list[Messages], origins: list[Origin], count: int) -> tuple[list[Messages], list[Origin]]:
    """The `count` samples of the latest sessions, in the dev file's order (samples without a date first)."""
    order = sorted(range(len(samples)), key=lambda i: (origins[i].session_start or "", i))[-count:]
    kept = sorted(order)
    return [samples[i] for i in kept], [origins[i] for i in kept]


@dataclass(frozen=True)
class DevSet:
    """The dataset folder and the newest dev conversations both versions are scored on."""

    data: Path
    samples: list[Messages]
    origins: list[Origin]


def score(
    engine: EngineKind, base: Path, adapter: Path, card: TwinCard, dev: DevSet, max_tokens: int, memory: bool
) -> dict[str, Any]:
    """One version, as `twin-train eval` scores it."""
    samples, origins = dev.samples, dev.origins
    blocks = None
    if memory:
        store = memory_of(adapter, card, dev.data)
        try:
            blocks = memory_rows.row_blocks(store, samples, origins, card.recall_settings)
        finally:
            store.close()
    generated = {row: b for row, b in (blocks or {}).items() if row != memory_rows.NONE}
    replies = generate_replies(
        engine, base, adapter, card.system_prompt, [s[:-1] for s in samples], max_tokens, generated
    )
    variants = {row: memory_rows.with_blocks(samples, b) for row, b in (blocks or {}).items()}
    perplexity, losses = base_and_adapter_perplexity(base, adapter, samples, variants)
    style = style_of(replies["adapter"])
    owner = style_of([s[-1]["content"] for s in samples])
    scored = {
        "path": str(adapter),
        "perplexity": perplexity["adapter"],
        "base_perplexity": perplexity["base"],
        "style": style,
        "style_distance_to_owner": style_distance(style, owner),
        "replies": replies["adapter"],
    }
    if memory:
        scored["memory"] = memory_report(samples, replies, losses)
    return scored


def verdict(names: tuple[str, str], scored: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The version whose perplexity of the owner's replies is lower; the style distance is reported beside."""
    first, second = names
    closer = min(names, key=lambda n: (scored[n]["perplexity"], names.index(n)))
    other = second if closer == first else first
    by_style = min(names, key=lambda n: (scored[n]["style_distance_to_owner"], names.index(n)))
    text = (
        f"closer: {closer} (perplexity of the owner's real replies {scored[closer]['perplexity']:.2f} against "
        f"{scored[other]['perplexity']:.2f} for {other}; style distance {scored[closer]['style_distance_to_owner']:.3f}"
        f" against {scored[other]['style_distance_to_owner']:.3f}"
        + ("" if by_style == closer else f", where {by_style}'s replies are closer in style")
        + ")"
    )
    return {"closer": closer, "closer_in_style": by_style, "text": text}


def table(report: dict[str, Any]) -> str:
    names = list(report["adapters"])
    scored = report["adapters"]
    rows = [f"| metric | {' | '.join(names)} | owner |", "| --- |" + " --- |" * (len(names) + 1)]
    rows.append(
        "| perplexity of the owner's replies | " + " | ".join(f"{scored[n]['perplexity']:.2f}" for n in names) + " | |"
    )
    for key in STYLE_KEYS:
        values = " | ".join(f"{scored[n]['style'][key]:.3f}" for n in names)
        rows.append(f"| {key} | {values} | {report['owner_style'][key]:.3f} |")
    distances = " | ".join(f"{scored[n]['style_distance_to_owner']:.3f}" for n in names)
    rows.append(f"| **style distance to owner** (0 = owner) | {distances} | 0 |")
    text = (
        f"{report['prompts']} newest dev conversations of {report['data']} "
        f"(sessions {report['sessions']['first']} to {report['sessions']['last']})\n\n"
        if report["sessions"]
        else f"{report['prompts']} dev conversations of {report['data']}\n\n"
    )
    text += "\n".join(rows) + "\n"
    for name in names:
        if "memory" in scored[name]:
            text += memory_table({"memory": scored[name]["memory"]}).replace("## Memory", f"## Memory: {name}")
    return text + f"\n{report['verdict']['text']}\n"


def compare_command(
    first: Annotated[str, typer.Argument(help="A version (me@1, found in --adapters) or an adapter folder")],
    second: Annotated[str, typer.Argument(help="The other version or folder (me@2)")],
    data: Annotated[
        Path | None,
        typer.Option(help="Dataset folder from `twin-train data` (default: the one SECOND was trained on)"),
    ] = None,
    adapters: Annotated[
        Path, typer.Option(help="Folder of adapter folders the names are looked up in (the server's --adapters)")
    ] = Path("adapters"),
    model: BaseModelOpt = None,
    revision: RevisionOpt = None,
    hub: HubOpt = None,
    engine: EngineOpt = DEFAULT_ENGINE,
    max_prompts: Annotated[int, typer.Option(help="Newest dev conversations to score (bounds the time)")] = 20,
    max_tokens: ReplyTokensOpt = DEFAULT_REPLY_TOKENS,
    memory: Annotated[
        bool,
        typer.Option("--memory/--no-memory", help="Also the memory rows, where an adapter or the dataset has memory"),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of a table")] = False,
) -> None:
    """Score two versions of a clone on the newest held-out chats and say which is closer to the owner."""
    if max_prompts < 1 or max_tokens < 1:
        raise UsageError("--max-prompts and --max-tokens must be at least 1")
    folders = {name: find_adapter(name, adapters) for name in (first, second)}
    if len(set(folders.values())) < 2:
        raise UsageError(f"{first} and {second} are the same adapter folder")
    cards = {}
    for name, folder in folders.items():
        card = read_card(folder)
        if card is None:
            raise TwinError(f"{folder}: no twin.json, not an adapter folder written by twin-train")
        cards[name] = card
    if len({Path(card.base_model).name for card in cards.values()}) > 1:  # a hub id and a folder of one base agree
        raise TwinError(f"{first} and {second} were trained on different base models: nothing to compare")
    data = data or trained_on(cards[second])
    if data is None:
        raise TwinError(f"{folders[second]}: twin.json names no dataset folder; pass --data")
    dev = read_sample_file(data / "dev.jsonl")
    samples, origins = newest(dev.samples, dev.origins, max_prompts)
    given = HubOptions(revision, hub)
    base = resolve_base_model(
        model or cards[second].base_model, hub=given if model else cards[second].base_hub_options(given)
    )
    dev_set, scored = DevSet(data, samples, origins), {}
    for name, folder in folders.items():
        with_memory = memory and ((data / MEMORY_FILE).is_file() or _has_own_memory(folder, cards[name]))
        output.say(f"scoring {name} on {len(samples)} dev conversations ({engine.value} engine)")
        scored[name] = score(engine, base.path, folder, cards[name], dev_set, max_tokens, with_memory)
    starts = [o.session_start for o in origins if o.session_start]
    report = {
        "data": str(data),
        "prompts": len(samples),
        "sessions": {"first": min(starts), "last": max(starts)} if starts else {},
        "adapters": scored,
        "owner_style": style_of([s[-1]["content"] for s in samples]),
        "verdict": verdict((first, second), scored),
    }
    output.result(json.dumps(report, ensure_ascii=False, indent=2) if as_json else table(report))


def _has_own_memory(folder: Path, card: TwinCard) -> bool:
    try:
        store = open_memory(folder, card)
    except ValueError:
        return False
    if store is None:
        return False
    store.close()
    return True
