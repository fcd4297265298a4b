"""LoRA SFT with TRL: configuration plus a trainer call, as TRL's own examples read.

Loss is on the owner's turns only (every assistant turn of a multi-turn sample), through
TRL's assistant-only masking and a training copy of the base chat template that renders
exactly as the server's.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from server.adapters.card import TwinCard, write_card
from server.basemodel import resolve_base_model
from server.basemodel.embedded import EMBEDDED_NAME
from server.engines.base import EngineOptions
from training.adapter_output import prepare_output_dir
from training.plots import plot_losses
from training.preference.parent import training_dtype
from training.sft.chat_template import training_chat_template
from training.sft.samples import read_report, read_samples

console = Console(stderr=True)


class SFTSetupError(ValueError):
    """Raised before training starts; the message names the input that is wrong."""


@dataclass
class SFTOptions:
    data_dir: Path
    out: Path
    model: str | None = None
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 1024
    packing: bool = False
    gradient_checkpointing: bool | None = None
    seed: int = 42
    evals: int = 4
    assistant_only_loss: bool = True
    qlora: bool = False
    resume: bool = False
    overwrite: bool = False
    max_server_rank: int = EngineOptions().max_lora_rank
    report_progress: bool = True

    def card_args(self) -> dict[str, Any]:
        args = asdict(self)
        for key in ("data_dir", "out"):
            args[key] = str(args[key])
        return args


def _check_causal_lm(path: Path) -> None:
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:
        raise SFTSetupError(f"{path}: cannot read its config.json ({exc})") from exc
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise SFTSetupError(f"{path}: model_type {config.model_type!r} is not a causal language model")


def _quantization(options: SFTOptions) -> dict[str, Any]:
    import importlib.util

    import torch

    if not options.qlora:
        return {}
    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise SFTSetupError("--qlora needs a CUDA GPU and the bitsandbytes package")
    from transformers import BitsAndBytesConfig

    return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_compute_dtype=torch.bfloat16)}  # fmt: skip


def _checkpoint_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.checkpoints"


def run_sft(options: SFTOptions) -> Path:
    """Train and write the adapter folder; every input is checked before the model is loaded."""
    if options.rank > options.max_server_rank:
        raise SFTSetupError(f"--rank {options.rank} is above the server's --max-lora-rank {options.max_server_rank}")
    data_dir = Path(options.data_dir)
    train_samples = read_samples(data_dir / "train.jsonl")
    dev_path = data_dir / "dev.jsonl"
    dev_samples = read_samples(dev_path) if dev_path.is_file() and dev_path.stat().st_size else []
    out = prepare_output_dir(options.out, options.overwrite or options.resume)
    base = resolve_base_model(options.model)
    _check_causal_lm(base.path)

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(base.path)
    if options.assistant_only_loss:
        tokenizer.chat_template = training_chat_template(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = training_dtype()
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=dtype, **_quantization(options))
    on_gpu = torch.cuda.is_available()
    steps_per_epoch = math.ceil(len(train_samples) / (options.batch_size * options.grad_accum))
    total_steps = options.max_steps if options.max_steps > 0 else math.ceil(steps_per_epoch * options.epochs)
    every = max(1, total_steps // max(1, options.evals))
    checkpoints = _checkpoint_dir(out)
    config = SFTConfig(
        output_dir=str(checkpoints),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        learning_rate=options.learning_rate,
        lr_scheduler_type=options.lr_scheduler,
        warmup_steps=options.warmup_ratio,
        max_length=options.max_length,
        packing=options.packing,
        assistant_only_loss=options.assistant_only_loss,
        gradient_checkpointing=on_gpu if options.gradient_checkpointing is None else options.gradient_checkpointing,
        bf16=dtype == torch.bfloat16,
        seed=options.seed,
        logging_steps=max(1, min(10, every // 2 or 1)),
        eval_strategy="steps" if dev_samples else "no",
        eval_steps=every,
        save_strategy="steps",
        save_steps=every,
        save_total_limit=2,
        load_best_model_at_end=bool(dev_samples),
        metric_for_best_model="eval_loss",
        report_to=[],
        disable_tqdm=not options.report_progress,
        dataloader_num_workers=0,
    )
    lora = LoraConfig(r=options.rank, lora_alpha=options.alpha, lora_dropout=options.dropout,
                      target_modules=options.target_modules if options.target_modules != ["all-linear"]
                      else "all-linear", task_type="CAUSAL_LM")  # fmt: skip
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list([{"messages": s} for s in train_samples]),
        eval_dataset=Dataset.from_list([{"messages": s} for s in dev_samples]) if dev_samples else None,
        processing_class=tokenizer,
        peft_config=lora,
    )
    resume = options.resume and checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
    plan = f"{len(train_samples)} train / {len(dev_samples)} dev samples, {total_steps} steps"
    console.print(f"training LoRA r={options.rank} on {base.served_name}: {plan}" + (" (resuming)" if resume else ""))
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    metrics: dict[str, Any] = {
        "train_loss": result.training_loss,
        "train_seconds": round(time.monotonic() - started, 1),
        "steps": trainer.state.global_step,
    }
    if dev_samples:
        metrics["dev_loss"] = trainer.evaluate()["eval_loss"]
    report = read_report(data_dir)
    system_prompt = next((m["content"] for m in train_samples[0] if m["role"] == "system"), None)
    card = TwinCard(
        base_model=EMBEDDED_NAME if options.model in (None, "", EMBEDDED_NAME) else str(base.path),
        system_prompt=report.get("system_prompt", system_prompt) or system_prompt,
        owner_name=report.get("owner_name"),
        kind="sft",
        date_split={k: report[k] for k in ("samples_train", "samples_dev") if k in report},
        data={k: v for k, v in report.items() if k not in ("malformed", "system_prompt")},
        training_args=options.card_args(),
        metrics=metrics,
    )
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    trainer.save_model(str(staging))
    if trainer.is_world_process_zero():
        for extra in ("training_args.bin", "chat_template.jinja", "tokenizer.json", "tokenizer_config.json",
                      "special_tokens_map.json"):  # fmt: skip
            (staging / extra).unlink(missing_ok=True)
        write_card(staging, card)
        plot_losses(trainer.state.log_history, staging / "loss.png", f"SFT {out.name}")
        (staging / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
        shutil.rmtree(checkpoints, ignore_errors=True)
        console.print(f"[green]adapter written[/] {out}  train loss {metrics['train_loss']:.3f}"
                      + (f", dev loss {metrics['dev_loss']:.3f}" if "dev_loss" in metrics else ""))  # fmt: skip
    return out
