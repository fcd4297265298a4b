"""`twin-train eval ADAPTER --data DATA_DIR --out DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from server.adapters.card import read_card
from server.basemodel import resolve_base_model
from training.evaluate.generate import generate_replies
from training.evaluate.perplexity import owner_perplexity
from training.evaluate.report import write_report
from training.evaluate.style import style_distance, style_of
from training.sft.chat_template import training_chat_template
from training.sft.samples import DatasetShapeError, read_samples


def _perplexities(base_path: Path, adapter: Path, samples: list[list[dict[str, str]]]) -> dict[str, float]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_path)
    template = training_chat_template(tokenizer)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32), adapter)
    model.eval()
    with model.disable_adapter():
        base = owner_perplexity(model, tokenizer, template, samples)
    return {"base": base, "adapter": owner_perplexity(model, tokenizer, template, samples)}


def eval_command(
    adapter: Annotated[Path, typer.Argument(help="Adapter folder (peft files + twin.json)")],
    data: Annotated[Path, typer.Option(help="Dataset folder; its dev.jsonl is evaluated")],
    out: Annotated[Path | None, typer.Option(help="Report folder (default: ADAPTER/eval)")] = None,
    model: Annotated[str | None, typer.Option(help="Base model folder (default: from twin.json)")] = None,
    engine: Annotated[str, typer.Option(help="transformers or vllm")] = "transformers",
    max_prompts: Annotated[int, typer.Option(help="Dev prompts to generate for")] = 20,
    max_tokens: int = 64,
) -> None:
    """Compare base and adapter with the owner: perplexity and style, as JSON, markdown and PNG."""
    card = read_card(adapter)
    if card is None:
        typer.echo(f"error: {adapter}: no twin.json, not an adapter folder written by twin-train", err=True)
        raise typer.Exit(1)
    try:
        samples = read_samples(data / "dev.jsonl")[:max_prompts]
    except DatasetShapeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    base = resolve_base_model(model or card.base_model)
    prompts = [s[:-1] for s in samples]
    owner = [s[-1]["content"] for s in samples]
    typer.echo(f"generating {len(prompts)} replies each for base and adapter ({engine} engine)")
    replies = generate_replies(engine, base.path, adapter.resolve(), card.system_prompt, prompts, max_tokens)
    typer.echo("scoring perplexity of the owner's replies")
    styles = {"base": style_of(replies["base"]), "adapter": style_of(replies["adapter"]), "owner": style_of(owner)}
    report = {
        "adapter": adapter.name,
        "base_model": base.served_name,
        "prompts": len(prompts),
        "perplexity": _perplexities(base.path, adapter, samples),
        "style": styles,
        "style_distance_to_owner": {k: style_distance(styles[k], styles["owner"]) for k in ("base", "adapter")},
        "examples": [{"prompt": p[-1]["content"], "owner": o, "base": b, "adapter": a}
                     for p, o, b, a in zip(prompts, owner, replies["base"], replies["adapter"], strict=True)][:5],
    }  # fmt: skip
    table = write_report(report, out or adapter / "eval")
    typer.echo(table)
