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

from wechat_twin import output
from wechat_twin.options import option, settings_command
from wechat_twin.server.adapters.card import TwinCard
from wechat_twin.server.basemodel import HubOptions, resolve_base_model
from wechat_twin.server.basemodel.options import HubOpt, RevisionOpt
from wechat_twin.server.engines.base import EngineOptions
from wechat_twin.training.adapter_output import prepare_output_dir, save_adapter
from wechat_twin.training.common.lora import ALL_LINEAR, build_lora_config, check_servable
from wechat_twin.training.common.model_loading import training_dtype
from wechat_twin.training.dataset.privacy import Redactor
from wechat_twin.training.pretrain.texts import PretrainTextError, read_texts


@dataclass(frozen=True)
class CptSettings:
    """`twin-train cpt`'s training options, declared once: the command's options are generated from them."""

    learning_rate: float = option(1e-4, "--learning-rate", "--lr", help="Peak learning rate")
    epochs: float = option(2.0, help="Passes over the texts")
    max_steps: int = option(-1, help="Stop after this many steps (-1: run all epochs)")
    batch_size: int = option(4, min=1, help="Blocks per step")
    gradient_accumulation: int = option(1, "--grad-accum", min=1, help="Steps whose gradients are summed per update")
    block_length: int = option(1024, min=16, help="Tokens per training block (texts are joined, then cut into blocks)")
    lora_r: int = option(16, "--lora-r", "--rank", help="LoRA rank (1, 8, 16, 32, ...; at most --max-server-rank)")
    lora_alpha: int = option(32, help="LoRA scaling (alpha / rank multiplies the update)")
    lora_dropout: float = option(0.05, help="Dropout on the LoRA layers' input")
    max_server_rank: int = option(EngineOptions().max_lora_rank, help="The serving side's --max-lora-rank")
    heldout_fraction: float = option(
        0.05, "--heldout", min=0.0, max=0.9, help="Fraction of texts held out to measure perplexity"
    )
    min_texts: int = option(10, min=1, help="Refuse to train on fewer texts than this")
    seed: int = option(42, help="Random seed (held-out split, shuffling)")


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

    from wechat_twin.training.progress import show_loss_in_progress_bar

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

    output.progress_console().print(f"[bold]CPT[/] on {len(train)} texts ({len(heldout)} held out), base {base.path}")
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
        show_loss_in_progress_bar(trainer)  # the stock bar prints every log on stdout
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
        base_revision=base.revision,
        kind="cpt",
        data={**texts.stats(), "train_texts": len(train), "heldout_texts": len(heldout)},
        training_args={**asdict(settings), "privacy_filter": privacy},
        metrics=metrics,
    )
    return save_adapter(trainer.model, folder, card)


@settings_command
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
    *,
    settings: CptSettings,
    privacy: Annotated[
        bool, typer.Option(help="Redact phone numbers, e-mails, ID and card numbers first, as `twin-train data` does")
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace the output folder if it exists")] = False,
) -> None:
    """Continue pretraining a LoRA on the owner's own posts or articles (a step before SFT)."""
    folder = run_cpt(texts, out, model, settings, privacy, overwrite, HubOptions(revision, hub))
    card_metrics = TwinCard.model_validate_json((folder / "twin.json").read_text(encoding="utf-8")).metrics
    before, after = card_metrics["heldout_perplexity_before"], card_metrics["heldout_perplexity_after"]
    if before is not None and after is not None:
        output.result(f"Held-out perplexity {before:.2f} -> {after:.2f}")
    output.result_console().print(
        f"[green]Wrote[/] CPT adapter [bold]{folder.name}[/] at {folder} ({card_metrics['steps']} steps). "
        "Continue it with SFT on the chat dataset next."
    )
