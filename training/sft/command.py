"""`twin-train sft DATA_DIR --out adapters/NAME`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wechat_twin.memory.recall import RecallSettings
from wechat_twin.server.basemodel.options import HubOpt, RevisionOpt
from wechat_twin.training.sft.train import LrScheduler, SFTOptions, run_sft

DEFAULTS = SFTOptions(data_dir=Path(), out=Path())


def sft_command(
    data_dir: Annotated[Path, typer.Argument(help="Folder with train.jsonl / dev.jsonl from `twin-train data`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Adapter folder to write; its name is the served name")],
    model: Annotated[
        str | None, typer.Option(help="Base model: a local folder or a hub id ORG/NAME (default: the embedded model)")
    ] = None,
    revision: RevisionOpt = None,
    hub: HubOpt = None,
    rank: Annotated[int, typer.Option(help="LoRA rank (1, 8, 16, 32, ...; at most --max-server-rank)")] = DEFAULTS.rank,
    alpha: Annotated[int, typer.Option(help="LoRA scaling (alpha / rank multiplies the update)")] = DEFAULTS.alpha,
    dropout: Annotated[float, typer.Option(help="Dropout on the LoRA layers' input")] = DEFAULTS.dropout,
    target_modules: Annotated[
        list[str] | None, typer.Option(help="Repeatable; default: every linear layer of the decoder")
    ] = None,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate")] = DEFAULTS.learning_rate,
    lr_scheduler: Annotated[LrScheduler, typer.Option(help="Learning-rate schedule")] = DEFAULTS.lr_scheduler,
    warmup_ratio: Annotated[float, typer.Option(help="Share of steps spent warming up")] = DEFAULTS.warmup_ratio,
    epochs: Annotated[float, typer.Option(help="Passes over the training samples")] = DEFAULTS.epochs,
    max_steps: Annotated[
        int, typer.Option(help="Stop after this many steps (overrides --epochs)")
    ] = DEFAULTS.max_steps,
    batch_size: Annotated[int, typer.Option(help="Per device")] = DEFAULTS.batch_size,
    grad_accum: Annotated[int, typer.Option(help="Steps whose gradients are summed per update")] = DEFAULTS.grad_accum,
    max_length: Annotated[int, typer.Option(help="Tokens per sample; longer ones are truncated")] = DEFAULTS.max_length,
    packing: Annotated[bool, typer.Option(help="Pack samples into full blocks")] = DEFAULTS.packing,
    padding_free: Annotated[
        bool, typer.Option(help="Batch samples end to end instead of padding them (same loss, fewer tokens)")
    ] = DEFAULTS.padding_free,
    gradient_checkpointing: Annotated[bool | None, typer.Option(help="Default: on with a GPU")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (shuffling, LoRA init)")] = DEFAULTS.seed,
    evals: Annotated[int, typer.Option(help="Dev evaluations (and checkpoints) during training")] = DEFAULTS.evals,
    assistant_only_loss: Annotated[
        bool, typer.Option(help="Loss on the owner's turns only")
    ] = DEFAULTS.assistant_only_loss,
    qlora: Annotated[bool, typer.Option(help="4-bit base (CUDA GPU + bitsandbytes)")] = DEFAULTS.qlora,
    resume: Annotated[
        bool, typer.Option(help="Continue from the last checkpoint of an interrupted run")
    ] = DEFAULTS.resume,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing adapter or interrupted run")
    ] = DEFAULTS.overwrite,
    max_server_rank: Annotated[int, typer.Option(help="The serving side's --max-lora-rank")] = DEFAULTS.max_server_rank,
    memory: Annotated[
        bool, typer.Option("--memory", help="Train with the memory block the server sends (needs memory.sqlite)")
    ] = DEFAULTS.memory,
    memory_k: Annotated[
        int | None,
        typer.Option(
            "--memory-k",
            help=f"Past exchanges per memory block, default {RecallSettings.k} (the server then retrieves as many)",
        ),
    ] = DEFAULTS.memory_k,
) -> None:
    """Fine-tune a LoRA adapter on the owner's replies (TRL SFT)."""
    options = SFTOptions(
        data_dir=data_dir, out=out, model=model, revision=revision, hub=hub, rank=rank, alpha=alpha, dropout=dropout,
        target_modules=target_modules or DEFAULTS.target_modules, learning_rate=learning_rate,
        lr_scheduler=lr_scheduler,
        warmup_ratio=warmup_ratio, epochs=epochs, max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum,
        max_length=max_length, packing=packing, padding_free=padding_free,
        gradient_checkpointing=gradient_checkpointing, seed=seed,
        evals=evals, assistant_only_loss=assistant_only_loss, qlora=qlora, resume=resume, overwrite=overwrite,
        max_server_rank=max_server_rank, memory=memory, memory_k=memory_k,
    )  # fmt: skip
    run_sft(options)
