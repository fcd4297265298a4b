"""`twin-train sft DATA_DIR --out adapters/NAME`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wechat_twin.memory.store import MemoryFileError
from wechat_twin.server.basemodel import BaseModelError
from wechat_twin.server.engines.base import EngineOptions
from wechat_twin.training.adapter_output import AdapterOutputError
from wechat_twin.training.sft.chat_template import ChatTemplateError
from wechat_twin.training.sft.lora import LoraSettingsError
from wechat_twin.training.sft.model_loading import BaseModelLoadError
from wechat_twin.training.sft.samples import DatasetShapeError
from wechat_twin.training.sft.train import SFTOptions, SFTSetupError, run_sft

SETUP_ERRORS = (SFTSetupError, DatasetShapeError, ChatTemplateError, AdapterOutputError, LoraSettingsError,
                BaseModelLoadError, BaseModelError, MemoryFileError)  # fmt: skip


def sft_command(
    data_dir: Annotated[Path, typer.Argument(help="Folder with train.jsonl / dev.jsonl from `twin-train data`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Adapter folder to write; its name is the served name")],
    model: Annotated[str | None, typer.Option(help="Base model folder (default: the embedded model)")] = None,
    rank: Annotated[int, typer.Option(help="LoRA rank (1, 8, 16, 32, ...; at most --max-server-rank)")] = 16,
    alpha: int = 32,
    dropout: float = 0.05,
    target_modules: Annotated[
        list[str] | None, typer.Option(help="Repeatable; default: every linear layer of the decoder")
    ] = None,
    learning_rate: float = 2e-4,
    lr_scheduler: Annotated[str, typer.Option(help="cosine, linear, constant, constant_with_warmup, ...")] = "cosine",
    warmup_ratio: float = 0.03,
    epochs: float = 3.0,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps (overrides --epochs)")] = -1,
    batch_size: Annotated[int, typer.Option(help="Per device")] = 4,
    grad_accum: int = 1,
    max_length: Annotated[int, typer.Option(help="Tokens per sample; longer ones are truncated")] = 1024,
    packing: bool = False,
    gradient_checkpointing: Annotated[bool | None, typer.Option(help="Default: on with a GPU")] = None,
    seed: int = 42,
    evals: Annotated[int, typer.Option(help="Dev evaluations (and checkpoints) during training")] = 4,
    assistant_only_loss: Annotated[bool, typer.Option(help="Loss on the owner's turns only")] = True,
    qlora: Annotated[bool, typer.Option(help="4-bit base (CUDA GPU + bitsandbytes)")] = False,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint of an interrupted run")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing adapter or interrupted run")] = False,
    max_server_rank: Annotated[
        int, typer.Option(help="The serving side's --max-lora-rank")
    ] = EngineOptions().max_lora_rank,
    memory: Annotated[
        bool, typer.Option("--memory", help="Train with the memory block the server sends (needs memory.sqlite)")
    ] = SFTOptions.memory,
) -> None:
    """Fine-tune a LoRA adapter on the owner's replies (TRL SFT)."""
    options = SFTOptions(
        data_dir=data_dir, out=out, model=model, rank=rank, alpha=alpha, dropout=dropout,
        target_modules=target_modules or ["all-linear"], learning_rate=learning_rate, lr_scheduler=lr_scheduler,
        warmup_ratio=warmup_ratio, epochs=epochs, max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum,
        max_length=max_length, packing=packing, gradient_checkpointing=gradient_checkpointing, seed=seed,
        evals=evals, assistant_only_loss=assistant_only_loss, qlora=qlora, resume=resume, overwrite=overwrite,
        max_server_rank=max_server_rank, memory=memory,
    )  # fmt: skip
    try:
        run_sft(options)
    except SETUP_ERRORS as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
