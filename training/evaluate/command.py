"""`twin-train eval ADAPTER --data DATA_DIR`: does the adapter sound more like its owner than the base?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from wechat_twin.errors import TwinError, UsageError
from wechat_twin.server.adapters.card import TwinCard, read_card
from wechat_twin.server.basemodel import resolve_base_model
from wechat_twin.training.evaluate.generate import generate_replies
from wechat_twin.training.evaluate.perplexity import base_and_adapter_perplexity
from wechat_twin.training.evaluate.report import write_report
from wechat_twin.training.evaluate.style import style_distance, style_of
from wechat_twin.training.sft.samples import Messages, read_samples


def build_report(
    card: TwinCard, adapter: Path, base_name: str, samples: list[Messages], replies: dict[str, list[str]],
    perplexity: dict[str, float],
) -> dict[str, Any]:  # fmt: skip
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
        "replies": [{"prompt": s[-2]["content"], "owner": o, "base": b, "adapter": a}
                    for s, o, b, a in zip(samples, owner, replies["base"], replies["adapter"], strict=True)],
    }  # fmt: skip


def _trained_on(card: TwinCard) -> Path | None:
    folder = (card.training_args or {}).get("data_dir")
    return Path(folder) if isinstance(folder, str) else None


def eval_command(
    adapter: Annotated[Path, typer.Argument(help="Adapter folder (peft files + twin.json)")],
    data: Annotated[
        Path | None,
        typer.Option(help="Dataset folder from `twin-train data` (default: the one the adapter was trained on)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: ADAPTER/eval)")] = None,
    model: Annotated[str | None, typer.Option(help="Base model folder (default: the one twin.json names)")] = None,
    engine: Annotated[str, typer.Option(help="transformers or vllm (the server's engines)")] = "transformers",
    max_prompts: Annotated[int, typer.Option(help="Dev conversations to reply to (bounds the time)")] = 20,
    max_tokens: Annotated[int, typer.Option(help="Tokens per generated reply")] = 64,
) -> None:
    """Compare base and adapter with the owner on the dev set: perplexity and style, as JSON, markdown and PNG."""
    adapter = adapter.resolve()
    if not (adapter / "adapter_config.json").is_file():
        raise TwinError(f"{adapter}: no adapter_config.json, not a LoRA adapter folder")
    card = read_card(adapter)
    if card is None:
        raise TwinError(f"{adapter}: no twin.json, not an adapter folder written by twin-train")
    if max_prompts < 1 or max_tokens < 1:
        raise UsageError("--max-prompts and --max-tokens must be at least 1")
    data = data or _trained_on(card)
    if data is None:
        raise TwinError(f"{adapter}: twin.json names no dataset folder; pass --data")
    samples = read_samples(data / "dev.jsonl")[:max_prompts]
    base = resolve_base_model(model or card.base_model)
    typer.echo(f"generating {len(samples)} replies each for {base.served_name} and {adapter.name} ({engine} engine)")
    replies = generate_replies(engine, base.path, adapter, card.system_prompt, [s[:-1] for s in samples], max_tokens)
    typer.echo("scoring the perplexity of the owner's real replies")
    perplexity = base_and_adapter_perplexity(base.path, adapter, samples)
    report = build_report(card, adapter, base.served_name, samples, replies, perplexity)
    folder = out or adapter / "eval"
    typer.echo(write_report(report, folder))
    typer.echo(f"report: {folder / 'eval.json'}, {folder / 'eval.md'}, {folder / 'eval.png'}")
