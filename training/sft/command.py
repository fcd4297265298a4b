"""`twin-train sft DATA_DIR --out adapters/NAME`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from training.adapter_output import AdapterOutputError
from training.sft.chat_template import ChatTemplateError
from training.sft.samples import DatasetShapeError
from training.sft.train import SFTOptions, SFTSetupError, run_sft


def sft_command(
    data_dir: Annotated[Path, typer.Argument(help="Folder with train.jsonl / dev.jsonl from `twin-train data`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Adapter folder to write; its name is the served name")],
    model: Annotated[str | None, typer.Option(help="Base model folder (default: the embedded model)")] = None,
    rank: int = 16,
    alpha: int = 32,
    dropout: float = 0.05,
    target_modules: Annotated[list[str] | None, typer.Option(help="Default: all linear layers")] = None,
    learning_rate: float = 2e-4,
    lr_scheduler: str = "cosine",
    warmup_ratio: float = 0.03,
    epochs: float = 3.0,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps (overrides --epochs)")] = -1,
    batch_size: int = 4,
    grad_accum: int = 1,
    max_length: int = 1024,
    packing: bool = False,
    gradient_checkpointing: Annotated[bool | None, typer.Option(help="Default: on with a GPU")] = None,
    seed: int = 42,
    evals: Annotated[int, typer.Option(help="Dev evaluations (and checkpoints) during training")] = 4,
    assistant_only_loss: Annotated[bool, typer.Option(help="Loss on the owner's turns only")] = True,
    qlora: Annotated[bool, typer.Option(help="4-bit base (GPU + bitsandbytes)")] = False,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint of an interrupted run")] = False,
    overwrite: bool = False,
    max_server_rank: Annotated[int, typer.Option(help="The server's --max-lora-rank")] = 16,
) -> None:
    """Fine-tune a LoRA adapter on the owner's replies (TRL SFT)."""
    options = SFTOptions(
        data_dir=data_dir, out=out, model=model, rank=rank, alpha=alpha, dropout=dropout,
        target_modules=target_modules or ["all-linear"], learning_rate=learning_rate, lr_scheduler=lr_scheduler,
        warmup_ratio=warmup_ratio, epochs=epochs, max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum,
        max_length=max_length, packing=packing, gradient_checkpointing=gradient_checkpointing, seed=seed,
        evals=evals, assistant_only_loss=assistant_only_loss, qlora=qlora, resume=resume, overwrite=overwrite,
        max_server_rank=max_server_rank,
    )  # fmt: skip
    try:
        run_sft(options)
    except (SFTSetupError, DatasetShapeError, ChatTemplateError, AdapterOutputError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
