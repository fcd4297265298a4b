"""`twin-train cpt`: continued pretraining of a LoRA on the owner's own writing, before SFT.

Chat logs show how the owner replies; their posts and articles show what they know and how
they write at length. A LoRA trained on that plain text (TRL's SFTTrainer on a language-
modelling dataset, texts packed into full blocks) is an adapter folder like any other: SFT
can continue it, and the server can serve it, though it has not learned to chat yet.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from wechat_twin.server.adapters.card import TwinCard
from wechat_twin.server.basemodel import HubOptions, resolve_base_model
from wechat_twin.server.basemodel.options import HubOpt, RevisionOpt
from wechat_twin.server.engines.base import EngineOptions
from wechat_twin.training.adapter_output import prepare_output_dir, save_adapter
from wechat_twin.training.common.lora import ALL_LINEAR, build_lora_config, check_servable
from wechat_twin.training.common.model_loading import training_dtype
from wechat_twin.training.dataset.privacy import Redactor
from wechat_twin.training.pretrain.texts import PretrainTextError, read_texts

console = Console(stderr=True)


@dataclass(frozen=True)
class CptSettings:
    learning_rate: float = 1e-4
    epochs: float = 2.0
    max_steps: int = -1
    batch_size: int = 4
    gradient_accumulation: int = 1
    block_length: int = 1024
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    max_server_rank: int = EngineOptions().max_lora_rank
    heldout_fraction: float = 0.05
    min_texts: int = 10
    seed: int = 42


DEFAULTS = CptSettings()


def _split(texts: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    count = int(len(texts) * fraction)
    heldout = set(order[:count])
    return [t for i, t in enumerate(texts) if i not in heldout], [t for i, t in enumerate(texts) if i in heldout]


def _perplexity(loss: float | None) -> float | None:
    return math.exp(loss) if loss is not None and loss < 50 else None


def run_cpt(
    texts_path: Path,
    out: Path,
    model: str | None,
    settings: CptSettings,
    privacy: bool,
    overwrite: bool,
    hub: HubOptions = HubOptions(),
) -> Path:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    # The LoRA settings `sft` checks, checked the same way before anything is read or loaded.
    check_servable(settings.lora_r, settings.max_server_rank, [ALL_LINEAR])
    texts = read_texts(texts_path, Redactor(enabled=privacy))
    if len(texts.texts) < settings.min_texts:
        raise PretrainTextError(
            f"{texts_path}: {len(texts.texts)} texts, at least {settings.min_texts} are needed (one post or article "
            "per line); add more, or lower --min-texts"
        )
    base = resolve_base_model(model, hub=hub)
    folder = prepare_output_dir(out, overwrite)
    train, heldout = _split(texts.texts, settings.heldout_fraction, settings.seed)

    console.print(f"[bold]CPT[/] on {len(train)} texts ({len(heldout)} held out), base {base.path}")
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    dtype = training_dtype()
    lm = AutoModelForCausalLM.from_pretrained(base.path, dtype=dtype)
    lora = build_lora_config(lm, settings.lora_r, settings.lora_alpha, settings.lora_dropout, [ALL_LINEAR])
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="twin-cpt-") as scratch:
        config = SFTConfig(
            output_dir=scratch,
            dataset_text_field="text",
            packing=True,
            packing_strategy="wrapped",
            max_length=settings.block_length,
            learning_rate=settings.learning_rate,
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps,
            per_device_train_batch_size=settings.batch_size,
            per_device_eval_batch_size=settings.batch_size,
            gradient_accumulation_steps=settings.gradient_accumulation,
            seed=settings.seed,
            bf16=dtype == torch.bfloat16,
            dataloader_pin_memory=torch.cuda.is_available(),
            logging_steps=1,
            save_strategy="no",
            report_to="none",
        )
        trainer = SFTTrainer(
            model=lm,
            args=config,
            train_dataset=Dataset.from_dict({"text": train}),
            eval_dataset=Dataset.from_dict({"text": heldout}) if heldout else None,
            processing_class=tokenizer,
            peft_config=lora,
        )
        loss_before = trainer.evaluate()["eval_loss"] if heldout else None
        result = trainer.train()
        loss_after = trainer.evaluate()["eval_loss"] if heldout else None
    metrics: dict[str, Any] = {
        "heldout_loss_before": loss_before,
        "heldout_loss_after": loss_after,
        "heldout_perplexity_before": _perplexity(loss_before),
        "heldout_perplexity_after": _perplexity(loss_after),
        "train_loss": result.training_loss,
        "steps": result.global_step,
        "seconds": round(time.monotonic() - started, 1),
    }
    card = TwinCard(
        base_model=base.source,
        kind="cpt",
        data={**texts.stats(), "train_texts": len(train), "heldout_texts": len(heldout)},
        training_args={**asdict(settings), "privacy_filter": privacy},
        metrics=metrics,
    )
    return save_adapter(trainer.model, folder, card)


def cpt_command(
    texts: Annotated[Path, typer.Argument(help="UTF-8 (or GBK) text file, one post or article per line")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New adapter folder; its name is the served name")],
    model: Annotated[
        str | None,
        typer.Option(
            help="Base model: a local folder or a hub id ORG/NAME [default: the embedded SmolLM2-135M-Instruct]"
        ),
    ] = None,
    revision: RevisionOpt = None,
    hub: HubOpt = None,
    learning_rate: Annotated[
        float, typer.Option("--learning-rate", "--lr", help="Peak learning rate")
    ] = DEFAULTS.learning_rate,
    epochs: Annotated[float, typer.Option(help="Passes over the texts")] = DEFAULTS.epochs,
    max_steps: Annotated[
        int, typer.Option(help="Stop after this many steps (-1: run all epochs)")
    ] = DEFAULTS.max_steps,
    batch_size: Annotated[int, typer.Option(min=1, help="Blocks per step")] = DEFAULTS.batch_size,
    grad_accum: Annotated[
        int, typer.Option("--grad-accum", min=1, help="Steps whose gradients are summed per update")
    ] = DEFAULTS.gradient_accumulation,
    block_length: Annotated[
        int, typer.Option(min=16, help="Tokens per training block (texts are joined, then cut into blocks)")
    ] = DEFAULTS.block_length,
    lora_r: Annotated[
        int, typer.Option("--lora-r", "--rank", help="LoRA rank (1, 8, 16, 32, ...; at most --max-server-rank)")
    ] = DEFAULTS.lora_r,
    lora_alpha: Annotated[
        int, typer.Option(help="LoRA scaling (alpha / rank multiplies the update)")
    ] = DEFAULTS.lora_alpha,
    lora_dropout: Annotated[float, typer.Option(help="Dropout on the LoRA layers' input")] = DEFAULTS.lora_dropout,
    max_server_rank: Annotated[int, typer.Option(help="The serving side's --max-lora-rank")] = DEFAULTS.max_server_rank,
    heldout: Annotated[
        float, typer.Option("--heldout", min=0.0, max=0.9, help="Fraction of texts held out to measure perplexity")
    ] = DEFAULTS.heldout_fraction,
    min_texts: Annotated[
        int, typer.Option(min=1, help="Refuse to train on fewer texts than this")
    ] = DEFAULTS.min_texts,
    seed: Annotated[int, typer.Option(help="Random seed (held-out split, shuffling)")] = DEFAULTS.seed,
    privacy: Annotated[
        bool, typer.Option(help="Redact phone numbers, e-mails, ID and card numbers first, as `twin-train data` does")
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace the output folder if it exists")] = False,
) -> None:
    """Continue pretraining a LoRA on the owner's own posts or articles (a step before SFT)."""
    settings = CptSettings(
        learning_rate=learning_rate,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        gradient_accumulation=grad_accum,
        block_length=block_length,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        max_server_rank=max_server_rank,
        heldout_fraction=heldout,
        min_texts=min_texts,
        seed=seed,
    )
    folder = run_cpt(texts, out, model, settings, privacy, overwrite, HubOptions(revision, hub))
    card_metrics = TwinCard.model_validate_json((folder / "twin.json").read_text(encoding="utf-8")).metrics
    before, after = card_metrics["heldout_perplexity_before"], card_metrics["heldout_perplexity_after"]
    if before is not None and after is not None:
        console.print(f"Held-out perplexity {before:.2f} -> {after:.2f}")
    console.print(
        f"[green]Wrote[/] CPT adapter [bold]{folder.name}[/] at {folder} ({card_metrics['steps']} steps). "
        "Continue it with SFT on the chat dataset next."
    )
