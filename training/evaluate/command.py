"""`twin-train eval ADAPTER --data DATA_DIR`: does the adapter sound more like its owner than the base?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from wechat_twin import output
from wechat_twin.errors import TwinError, UsageError
from wechat_twin.private_files import private_dir, write_private
from wechat_twin.server.adapters.card import TwinCard, read_card, write_card
from wechat_twin.server.basemodel import HubOptions, resolve_base_model
from wechat_twin.server.basemodel.options import HubOpt, RevisionOpt
from wechat_twin.training.common.samples import Messages, read_sample_file
from wechat_twin.training.evaluate import memory_rows
from wechat_twin.training.evaluate.canaries.settings import CANDIDATES, REPORT_FILE, ProbeSettings
from wechat_twin.training.evaluate.generate import generate_replies
from wechat_twin.training.evaluate.options import (
    DEFAULT_ENGINE,
    DEFAULT_REPLY_TOKENS,
    BaseModelOpt,
    EngineOpt,
    ReplyTokensOpt,
)
from wechat_twin.training.evaluate.perplexity import base_and_adapter_perplexity, perplexity_of
from wechat_twin.training.evaluate.report import write_report
from wechat_twin.training.evaluate.sources import memory_of, trained_on
from wechat_twin.training.evaluate.style import style_distance, style_of
from wechat_twin.training.evaluate.tuning import SEEDS, SamplingSearch, tuning_report


def build_report(
    card: TwinCard,
    adapter: Path,
    base_name: str,
    samples: list[Messages],
    replies: dict[str, list[str]],
    perplexity: dict[str, float],
) -> dict[str, Any]:
    owner = [s[-1]["content"] for s in samples]
    styles = {"base": style_of(replies["base"]), "adapter": style_of(replies["adapter"]), "owner": style_of(owner)}
    return {
        "adapter": adapter.name,
        "base_model": base_name,
        "owner_name": card.owner_name,
        "prompts": len(samples),
        "perplexity": perplexity,
        "style": styles,
        "style_distance_to_owner": {k: style_distance(styles[k], styles["owner"]) for k in ("base", "adapter")},
        "replies": [
            {"prompt": s[-2]["content"], "owner": o, "base": b, "adapter": a}
            for s, o, b, a in zip(samples, owner, replies["base"], replies["adapter"], strict=True)
        ],
    }


def memory_report(
    samples: list[Messages], replies: dict[str, list[str]], losses: dict[str, list[tuple[float, int]]]
) -> dict[str, Any]:
    """The four rows (perplexity, style, distance to the owner) and the verdict."""
    owner = style_of([s[-1]["content"] for s in samples])
    rows = {}
    for row in memory_rows.ROWS:
        style = style_of(replies["adapter" if row == memory_rows.NONE else row])
        rows[row] = {
            "title": memory_rows.ROW_TITLES[row],
            "perplexity": perplexity_of(losses[row]),
            "style": style,
            "style_distance_to_owner": style_distance(style, owner),
        }
    return {"rows": rows, "verdict": memory_rows.verdict(losses)}


def canary_command(
    adapter: Path | None,
    data: Path | None,
    out: Path | None,
    model: str | None,
    hub: HubOptions,
    settings: ProbeSettings,
) -> None:
    """`eval --canaries N`: the memorisation probe, with the adapter's recipe or, without one, the sft defaults."""
    from wechat_twin.training.evaluate.canaries.probe import markdown, recipe_options, run_probe

    card = _card_of(adapter) if adapter else None
    data = data or (trained_on(card) if card else None)
    if data is None:
        raise UsageError("--canaries needs a dataset: give --data (or an adapter whose twin.json names one)")
    if settings.canaries < 1 or settings.candidates < 1:
        raise UsageError("--canaries and --candidates must be at least 1")
    folder = private_dir((out or (adapter or data) / "canaries").resolve())
    options = recipe_options(card, data.resolve(), folder / "probe-adapter", model, hub)
    report = run_probe(settings, data.resolve(), folder, options)
    write_private(folder / REPORT_FILE, json.dumps(report, ensure_ascii=False, indent=1))
    output.result(markdown(report))
    output.result(f"report: {folder / REPORT_FILE}")


def _card_of(adapter: Path) -> TwinCard:
    adapter = adapter.resolve()
    if not (adapter / "adapter_config.json").is_file():
        raise TwinError(f"{adapter}: no adapter_config.json, not a LoRA adapter folder")
    card = read_card(adapter)
    if card is None:
        raise TwinError(f"{adapter}: no twin.json, not an adapter folder written by twin-train")
    return card


def eval_command(
    adapter: Annotated[
        Path | None, typer.Argument(help="Adapter folder (peft files + twin.json); optional with --canaries and --data")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Dataset folder from `twin-train data` (default: the one the adapter was trained on)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: ADAPTER/eval)")] = None,
    model: BaseModelOpt = None,
    revision: RevisionOpt = None,
    hub: HubOpt = None,
    engine: EngineOpt = DEFAULT_ENGINE,
    max_prompts: Annotated[int, typer.Option(help="Dev conversations to reply to (bounds the time)")] = 20,
    max_tokens: ReplyTokensOpt = DEFAULT_REPLY_TOKENS,
    memory: Annotated[
        bool, typer.Option("--memory", help="Also compare no memory, memory and two controls (needs memory.sqlite)")
    ] = False,
    tune_sampling: Annotated[
        bool, typer.Option("--tune-sampling", help="Grid-search sampling for the owner's style; write it to twin.json")
    ] = False,
    tune_seeds: Annotated[
        int, typer.Option(help="With --tune-sampling: seeds to score each point on (as many fresh ones recheck it)")
    ] = SEEDS,
    canaries: Annotated[
        int,
        typer.Option(
            help="Memorisation probe: plant this many secrets, train a probe adapter with the recipe, measure"
        ),
    ] = 0,
    candidates: Annotated[
        int, typer.Option(help="With --canaries: random secrets of the same shape each canary is ranked among")
    ] = CANDIDATES,
    redact_names: Annotated[
        bool,
        typer.Option(
            "--redact-names",
            help="With --canaries: the canaries' names are replaced as `data --redact-names` replaces contacts'",
        ),
    ] = False,
) -> None:
    """Compare base and adapter with the owner on the dev set: perplexity and style, as JSON, markdown and PNG.
    With --canaries: how much the adapter's recipe memorises, on secrets planted in a copy of its data."""
    if canaries:
        settings = ProbeSettings(canaries, candidates, redact_names=redact_names)
        return canary_command(adapter, data, out, model, HubOptions(revision, hub), settings)
    if adapter is None:
        raise UsageError("give the ADAPTER folder to evaluate (only --canaries with --data runs without one)")
    adapter = adapter.resolve()
    card = _card_of(adapter)
    if max_prompts < 1 or max_tokens < 1 or tune_seeds < 1:
        raise UsageError("--max-prompts, --max-tokens and --tune-seeds must be at least 1")
    data = data or trained_on(card)
    if data is None:
        raise TwinError(f"{adapter}: twin.json names no dataset folder; pass --data")
    dev = read_sample_file(data / "dev.jsonl")
    samples, origins = dev.samples[:max_prompts], dev.origins[:max_prompts]
    given = HubOptions(revision, hub)
    base = resolve_base_model(model or card.base_model, hub=given if model else card.base_hub_options(given))
    blocks = None
    if memory:
        store = memory_of(adapter, card, data)
        try:
            blocks = memory_rows.row_blocks(store, samples, origins, card.recall_settings)
        finally:
            store.close()
    generated = {row: b for row, b in (blocks or {}).items() if row != memory_rows.NONE}
    search = SamplingSearch([s[-1]["content"] for s in samples], tune_seeds) if tune_sampling else None
    output.say(
        f"generating {len(samples)} replies each for {base.served_name} and {adapter.name} "
        f"({engine.value} engine)"
        + (f", and {len(generated)} memory rows" if memory else "")
        + (
            f", at {len(search.points)} sampling points on {search.seeds} seeds, then the defaults and the "
            f"best on {search.seeds} fresh seeds"
            if search
            else ""
        )
    )
    replies = generate_replies(
        engine, base.path, adapter, card.system_prompt, [s[:-1] for s in samples], max_tokens, generated, search
    )
    output.say("scoring the perplexity of the owner's real replies")
    variants = {row: memory_rows.with_blocks(samples, b) for row, b in (blocks or {}).items()}
    perplexity, losses = base_and_adapter_perplexity(base.path, adapter, samples, variants)
    report = build_report(card, adapter, base.served_name, samples, replies, perplexity)
    if memory:
        report["memory"] = memory_report(samples, replies, losses)
    if search:
        report["sampling"] = tuning_report(search, replies)
        write_card(adapter, card.model_copy(update={"sampling": report["sampling"]["tuned"]}))
        output.result(f"tuned sampling written to {adapter / 'twin.json'}: {report['sampling']['tuned']}")
    folder = out or adapter / "eval"
    output.result(write_report(report, folder))
    output.result(f"report: {folder / 'eval.json'}, {folder / 'eval.md'}, {folder / 'eval.png'}")
