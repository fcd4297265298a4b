"""`twin-train export ADAPTER --out DIR [--ollama]`: the clone merged into its base, for Ollama and friends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wechat_twin import output
from wechat_twin.errors import TwinError, UsageError
from wechat_twin.server.adapters.card import read_card
from wechat_twin.server.basemodel import BaseModelError, HubOptions, resolve_base_model
from wechat_twin.server.basemodel.options import HubOpt, RevisionOpt
from wechat_twin.server.engines.base import DType


def export_command(
    adapter: Annotated[Path, typer.Argument(help="Adapter folder (peft files + twin.json)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the merged model to")],
    model: Annotated[
        str | None, typer.Option(help="Base model folder or hub id ORG/NAME (default: the one twin.json names)")
    ] = None,
    revision: RevisionOpt = None,
    hub: HubOpt = None,
    dtype: Annotated[DType, typer.Option(help="Weights' precision; auto keeps the base's")] = DType.AUTO,
    ollama: Annotated[bool, typer.Option(help="Also write an Ollama Modelfile into the folder")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing, non-empty --out folder")] = False,
) -> None:
    """Merge a LoRA into its base model (peft) and write an ordinary Hugging Face model folder."""
    from wechat_twin.training.export.merge import merge_adapter

    adapter = adapter.expanduser().resolve()
    if not (adapter / "adapter_config.json").is_file():
        raise UsageError(f"{adapter}: no adapter_config.json, not a LoRA adapter folder")
    card = read_card(adapter)
    if card is None:
        raise UsageError(f"{adapter}: no twin.json, not an adapter folder written by twin-train")
    out = out.expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise UsageError(f"{out}: already exists and is not an empty folder (pass --overwrite to replace it)")
    try:
        given = HubOptions(revision, hub)
        base = resolve_base_model(model or card.base_model, hub=given if model else card.base_hub_options(given))
    except BaseModelError as exc:
        raise TwinError(str(exc)) from exc
    for source in (adapter, base.path):
        if source.is_relative_to(out):
            raise UsageError(f"--out {out}: replacing it would delete {source}, which the export reads")
    output.say(f"merging {adapter.name} into {base.served_name}")
    try:
        result = merge_adapter(adapter, base.path, card, out, dtype.value, ollama)
    except ValueError as exc:
        raise TwinError(f"{adapter}: {exc}") from exc
    output.result(f"wrote {result.folder}: load it with `twin-server serve --model {result.folder}`")
    if result.modelfile is not None:
        if not result.template_written:
            output.note("the chat template is not ChatML, so the Modelfile leaves TEMPLATE to Ollama's detection")
        output.result(f"then: ollama create {adapter.name} -f {result.modelfile}")
