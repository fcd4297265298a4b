"""LoRA SFT with TRL: configuration plus a trainer call, as TRL's own examples read.

Loss is on the owner's turns only (every assistant turn of a multi-turn sample), through
TRL's assistant-only masking and a training copy of the base chat template that renders
exactly as the server's. Every input is checked before the model is loaded; under
`accelerate launch` every process runs this same code and only the main one writes the folder.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wechat_twin.errors import TwinError, UsageError
from wechat_twin.memory.recall import RecallSettings
from wechat_twin.memory.store import MEMORY_FILE
from wechat_twin.options import argument, option
from wechat_twin.output import progress_console
from wechat_twin.private_files import copy_private, lock_down, owner_only_umask, private_dir, write_private
from wechat_twin.server.adapters.card import TwinCard
from wechat_twin.server.adapters.heldout import HELDOUT_FILE
from wechat_twin.server.basemodel import Hub, HubOptions, ResolvedBaseModel, resolve_base_model
from wechat_twin.server.basemodel.options import HUB_HELP, REVISION_HELP
from wechat_twin.server.engines.base import EngineOptions
from wechat_twin.server.engines.device import Device, pick_device, probe
from wechat_twin.training.adapter_output import prepare_output_dir, save_adapter
from wechat_twin.training.common.chat_template import training_chat_template
from wechat_twin.training.common.lora import ALL_LINEAR, build_lora_config, check_servable
from wechat_twin.training.common.model_loading import (
    check_causal_lm,
    check_qlora_possible,
    load_base_model,
    load_tokenizer,
    training_dtype,
)
from wechat_twin.training.common.samples import Messages, SampleFile, read_report, read_sample_file
from wechat_twin.training.dataset.window import write_window
from wechat_twin.training.memory_samples import dataset_memory, with_recalled
from wechat_twin.training.plots import plot_losses
from wechat_twin.training.sft.reply_length import owner_reply_tokens_p99

OPTIONS_FILE = "sft_options.json"
# Options that may change between an interrupted run and its resumption without changing what is trained.
_RESUMABLE_CHANGES = {"resume", "overwrite", "report_progress"}
# report.json keys the card keeps elsewhere (options, window, rhythm) or not at all
_NOT_DATA = ("malformed_rows", "system_prompt", "rhythm", "options", "window")


class SFTSetupError(TwinError):
    """Raised before training starts; the message names the input that is wrong."""


class LrScheduler(str, enum.Enum):
    """`--lr-scheduler`: transformers' schedules that need no arguments beyond the warm-up ratio."""

    LINEAR = "linear"
    COSINE = "cosine"
    COSINE_WITH_RESTARTS = "cosine_with_restarts"
    POLYNOMIAL = "polynomial"
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"
    INVERSE_SQRT = "inverse_sqrt"


@dataclass
class SFTOptions:
    """`twin-train sft`'s options, declared once: the command's options are generated from these fields."""

    data_dir: Path = argument(help="Folder with train.jsonl / dev.jsonl from `twin-train data`")
    out: Path = option(dataclasses.MISSING, "--out", "-o", help="Adapter folder to write; its name is the served name")
    model: str | None = option(
        None, help="Base model: a local folder or a hub id ORG/NAME (default: the embedded model)"
    )
    revision: str | None = option(None, help=REVISION_HELP)  # with a hub id: its branch, tag or commit
    hub: Hub | None = option(None, help=HUB_HELP)
    rank: int = option(16, help="LoRA rank (1, 8, 16, 32, ...; at most --max-server-rank)")
    alpha: int = option(32, help="LoRA scaling (alpha / rank multiplies the update)")
    dropout: float = option(0.05, help="Dropout on the LoRA layers' input")
    target_modules: list[str] = option(
        factory=lambda: [ALL_LINEAR], help="Repeatable; default: every linear layer of the decoder"
    )
    learning_rate: float = option(2e-4, help="Peak learning rate")
    lr_scheduler: LrScheduler = option(LrScheduler.COSINE, help="Learning-rate schedule")
    warmup_ratio: float = option(0.03, help="Share of steps spent warming up")
    epochs: float = option(3.0, help="Passes over the training samples")
    max_steps: int = option(-1, help="Stop after this many steps (overrides --epochs)")
    batch_size: int = option(4, help="Per device")
    grad_accum: int = option(1, help="Steps whose gradients are summed per update")
    max_length: int = option(1024, help="Tokens per sample; longer ones are truncated")
    packing: bool = option(False, help="Pack samples into full blocks")
    padding_free: bool = option(
        True, help="Batch samples end to end instead of padding them: the same loss on fewer tokens (bench/train.py)"
    )
    gradient_checkpointing: bool | None = option(None, help="Default: on with a GPU")
    seed: int = option(42, help="Random seed (shuffling, LoRA init)")
    evals: int = option(4, help="Dev evaluations (and checkpoints) during training")
    assistant_only_loss: bool = option(True, help="Loss on the owner's turns only")
    qlora: bool = option(False, help="4-bit base (CUDA GPU + bitsandbytes)")
    resume: bool = option(False, help="Continue from the last checkpoint of an interrupted run")
    overwrite: bool = option(False, help="Replace an existing adapter or interrupted run")
    max_server_rank: int = option(EngineOptions().max_lora_rank, help="The serving side's --max-lora-rank")
    memory: bool = option(False, "--memory", help="Train with the memory block the server sends (needs memory.sqlite)")
    # unset: RecallSettings.k; a run saved before the option existed resumes as unset
    memory_k: int | None = option(
        None,
        "--memory-k",
        help=f"Past exchanges per memory block, default {RecallSettings.k} (the server then retrieves as many)",
    )
    report_progress: bool = True

    @property
    def recall_k(self) -> int:
        return RecallSettings.k if self.memory_k is None else self.memory_k

    def card_args(self) -> dict[str, Any]:
        args = asdict(self)
        for key in ("data_dir", "out"):
            args[key] = str(Path(args[key]).resolve())
        args["lr_scheduler"] = LrScheduler(self.lr_scheduler).value
        args["hub"] = self.hub and Hub(self.hub).value
        return args


@dataclass
class SFTInputs:
    """Everything read and checked before the first weight is loaded."""

    out: Path
    checkpoints: Path
    base: ResolvedBaseModel
    train: SampleFile
    dev: SampleFile | None
    report: dict[str, Any]
    resume: bool
    train_messages: list[Messages]  # what the trainer sees: the samples, with the memory block under --memory
    dev_messages: list[Messages] | None
    memory: Path | None = None
    heldout: Path | None = None  # the dev split, carried into the adapter for the blind test


def checkpoint_dir(out: Path) -> Path:
    """Beside the adapter, hidden, so the server never lists a half-trained checkpoint as an adapter."""
    return out.parent / f".{out.name}.checkpoints"


def _check_numbers(options: SFTOptions) -> None:
    checks = (
        (options.batch_size >= 1, "--batch-size must be at least 1"),
        (options.grad_accum >= 1, "--grad-accum must be at least 1"),
        (options.max_length >= 16, "--max-length must be at least 16 tokens"),
        (options.learning_rate > 0, "--learning-rate must be positive"),
        (options.epochs > 0 or options.max_steps > 0, "give --epochs above 0 or --max-steps"),
        (0 <= options.dropout < 1, "--dropout must be in [0, 1)"),
        (0 <= options.warmup_ratio < 1, "--warmup-ratio must be in [0, 1)"),
        (options.evals >= 1, "--evals must be at least 1"),
        (1 <= options.recall_k <= RecallSettings.MAX_K, f"--memory-k must be in [1, {RecallSettings.MAX_K}]"),
        (options.memory or options.memory_k is None, "--memory-k needs --memory"),
    )
    for ok, problem in checks:
        if not ok:
            raise UsageError(problem)


def _check_resume(options: SFTOptions, checkpoints: Path) -> bool:
    """Resume only the same run: an interrupted run's checkpoints are neither reused silently nor lost silently."""
    found = checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
    if options.resume:
        if not found:
            raise SFTSetupError(f"--resume: no checkpoint in {checkpoints} to continue from")
        saved = json.loads((checkpoints / OPTIONS_FILE).read_text(encoding="utf-8"))
        changed = sorted(k for k, v in options.card_args().items() if k not in _RESUMABLE_CHANGES and saved.get(k) != v)
        if changed:
            raise SFTSetupError(
                f"--resume: {', '.join(changed)} differ from the interrupted run's ({checkpoints / OPTIONS_FILE}); "
                "resume with the same options or start over with --overwrite"
            )
        return True
    if found and not options.overwrite:
        raise SFTSetupError(
            f"{checkpoints}: checkpoints of an interrupted run are there; pass --resume to continue it "
            "or --overwrite to start over"
        )
    return False


def check_inputs(options: SFTOptions) -> SFTInputs:
    _check_numbers(options)
    check_servable(options.rank, options.max_server_rank, options.target_modules)
    if options.qlora:
        check_qlora_possible()
    data_dir = Path(options.data_dir)
    train = read_sample_file(data_dir / "train.jsonl")
    dev_path = data_dir / "dev.jsonl"
    dev = read_sample_file(dev_path) if dev_path.is_file() and dev_path.stat().st_size else None
    report = read_report(data_dir)
    out = prepare_output_dir(options.out, options.overwrite or options.resume)
    checkpoints = checkpoint_dir(out)
    resume = _check_resume(options, checkpoints)
    train_messages, dev_messages = train.samples, dev.samples if dev else None
    memory = None
    if options.memory:
        store = dataset_memory(data_dir)
        try:
            settings = RecallSettings(k=options.recall_k)
            train_messages = with_recalled(train.samples, train.origins, store, settings)
            dev_messages = with_recalled(dev.samples, dev.origins, store, settings) if dev else None
        finally:
            store.close()
        memory = store.path
    base = resolve_base_model(options.model, hub=HubOptions(options.revision, options.hub))
    check_causal_lm(base.path)
    heldout = dev_path if dev else None
    return SFTInputs(out, checkpoints, base, train, dev, report, resume, train_messages, dev_messages, memory, heldout)


def _total_steps(options: SFTOptions, samples: int, processes: int) -> int:
    if options.max_steps > 0:
        return options.max_steps
    per_epoch = math.ceil(samples / (options.batch_size * options.grad_accum * processes))
    return max(1, math.ceil(per_epoch * options.epochs))


def _sft_config(options: SFTOptions, inputs: SFTInputs, total_steps: int) -> Any:
    import torch
    from trl import SFTConfig

    on_gpu = torch.cuda.is_available()
    on_accelerator = pick_device(Device.AUTO, probe()) is not Device.CPU  # CUDA or Apple MPS: the Trainer's pick
    every = max(1, math.ceil(total_steps / options.evals))
    has_dev = inputs.dev is not None
    return SFTConfig(
        output_dir=str(inputs.checkpoints),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        learning_rate=options.learning_rate,
        lr_scheduler_type=LrScheduler(options.lr_scheduler).value,
        warmup_steps=options.warmup_ratio,
        # TRL refuses max_length with padding-free batches (it would not cut them): `_cut_to` does it instead.
        max_length=None if _padding_free(options) else options.max_length,
        packing=options.packing,
        padding_free=_padding_free(options),
        assistant_only_loss=options.assistant_only_loss,
        gradient_checkpointing=on_gpu if options.gradient_checkpointing is None else options.gradient_checkpointing,
        bf16=training_dtype() == torch.bfloat16,
        seed=options.seed,
        logging_steps=max(1, total_steps // 50),
        logging_first_step=True,
        eval_strategy="steps" if has_dev else "no",
        eval_on_start=has_dev and not inputs.resume,  # the dev loss before training, once per run
        eval_steps=every,
        save_strategy="steps",
        save_steps=every,
        save_total_limit=2,
        load_best_model_at_end=has_dev,
        metric_for_best_model="eval_loss",
        report_to=[],
        disable_tqdm=not options.report_progress,
        dataloader_num_workers=0,
        dataloader_pin_memory=on_gpu,
        use_cpu=not on_accelerator,
        ddp_find_unused_parameters=False,
    )


def _metrics(trainer: Any, result: Any, seconds: float, has_dev: bool) -> dict[str, Any]:
    """Final train loss (last logged), its mean over the run, dev loss before training and of the kept checkpoint."""
    history = trainer.state.log_history
    logged = [e["loss"] for e in history if "loss" in e]
    metrics: dict[str, Any] = {
        "train_loss": logged[-1] if logged else result.training_loss,
        "train_loss_mean": result.training_loss,
        "steps": trainer.state.global_step,
        "train_seconds": round(seconds, 1),
    }
    if has_dev:
        before = [e["eval_loss"] for e in history if "eval_loss" in e and e.get("step") == 0]
        if before:
            metrics["dev_loss_before"] = before[0]
        best = trainer.state.best_metric
        metrics["dev_loss"] = best if best is not None else trainer.evaluate()["eval_loss"]
        if trainer.state.best_model_checkpoint:
            metrics["kept_checkpoint"] = Path(trainer.state.best_model_checkpoint).name
    return metrics


def _card(options: SFTOptions, inputs: SFTInputs, metrics: dict[str, Any], processes: int, tokenizer: Any) -> TwinCard:
    import torch

    precision = "bf16" if training_dtype() == torch.bfloat16 else "fp32"
    if options.qlora:
        precision = f"4-bit nf4 base, {precision} compute"
    report = inputs.report
    prompts = Counter(s[0]["content"] for s in inputs.train.samples if s[0]["role"] == "system")
    system_prompt = prompts.most_common(1)[0][0] if prompts else None
    date_split = {"train": inputs.train.date_range()}
    if inputs.dev is not None:
        date_split["dev"] = inputs.dev.date_range()
    return TwinCard(
        base_model=inputs.base.source,
        base_revision=inputs.base.revision,
        system_prompt=system_prompt,
        owner_name=report.get("owner_name"),
        kind="sft",
        date_split={name: dates for name, dates in date_split.items() if dates},
        data={k: v for k, v in report.items() if k not in _NOT_DATA},
        training_args={**options.card_args(), "precision": precision, "processes": processes},
        metrics=metrics,
        reply_tokens_p99=owner_reply_tokens_p99(tokenizer, inputs.train.samples),
        memory_k=options.recall_k,
        rhythm=report.get("rhythm"),
        data_options=report.get("options"),
    )


def _write_adapter(trainer: Any, inputs: SFTInputs, card: TwinCard, window: dict[str, Any] | None) -> None:
    """Every process takes part (FSDP gathers its shards); the main one writes and clears the checkpoints."""
    out = inputs.out

    def loss_files(folder: Path) -> None:
        plot_losses(trainer.state.log_history, folder / "loss.png", f"SFT {out.name}")
        write_private(folder / "log_history.json", json.dumps(trainer.state.log_history, indent=1))
        if inputs.memory is not None:  # the server retrieves from it, as training did
            copy_private(inputs.memory, folder / MEMORY_FILE)
        if inputs.heldout is not None:  # the blind test's moments: chats this adapter never trained on
            copy_private(inputs.heldout, folder / HELDOUT_FILE)
        if window is not None:  # the sessions trained on, which `twin-train update` leaves out
            write_window(folder, window)

    save_adapter(trainer.model, out, card, trainer=trainer, extra_files=loss_files)
    if trainer.accelerator.is_main_process:
        shutil.rmtree(inputs.checkpoints, ignore_errors=True)


def _padding_free(options: SFTOptions) -> bool:
    """Packing (TRL's best-fit) is padding-free already; otherwise each batch is its samples end to end."""
    return options.padding_free and not options.packing


def _cut_to(dataset: Any, max_length: int) -> Any:
    """What TRL does to padded batches, for padding-free ones: keep each sample's first `max_length` tokens and
    drop a sample left without an owner token, so both batchings train on the same tokens."""
    cut = dataset.map(lambda row: {"input_ids": row["input_ids"][:max_length], "labels": row["labels"][:max_length]})
    return cut.filter(lambda row: any(label != -100 for label in row["labels"]))


def build_trainer(options: SFTOptions, inputs: SFTInputs, total_steps: int, start_from: Path | None = None) -> Any:
    """TRL's SFTTrainer over the base model with a fresh LoRA, the samples tokenized by the training template.

    With `start_from` (an adapter folder, `twin-train update`), the LoRA is that adapter's, loaded trainable:
    training continues from its weights instead of from a fresh initialisation."""
    from datasets import Dataset
    from trl import SFTTrainer

    tokenizer = load_tokenizer(inputs.base.path)
    if options.assistant_only_loss:
        tokenizer.chat_template = training_chat_template(tokenizer)
    model = load_base_model(inputs.base.path, options.qlora)
    if start_from is None:
        lora = build_lora_config(model, options.rank, options.alpha, options.dropout, options.target_modules)
    else:
        from peft import PeftModel, prepare_model_for_kbit_training

        if options.qlora:  # what TRL does to a 4-bit base before it adds a fresh LoRA
            model = prepare_model_for_kbit_training(model, options.gradient_checkpointing is not False)
        model, lora = PeftModel.from_pretrained(model, str(start_from), is_trainable=True), None
    trainer = SFTTrainer(
        model=model,
        args=_sft_config(options, inputs, total_steps),
        train_dataset=Dataset.from_list([{"messages": s} for s in inputs.train_messages]),
        eval_dataset=Dataset.from_list([{"messages": s} for s in inputs.dev_messages]) if inputs.dev_messages else None,
        processing_class=tokenizer,
        peft_config=lora,
    )
    if _padding_free(options):
        trainer.train_dataset = _cut_to(trainer.train_dataset, options.max_length)
        if trainer.eval_dataset is not None:
            trainer.eval_dataset = _cut_to(trainer.eval_dataset, options.max_length)
    return trainer


def run_sft(
    options: SFTOptions,
    *,
    start_from: Path | None = None,
    finish_card: Callable[[TwinCard], TwinCard] | None = None,
    window: dict[str, Any] | None = None,
) -> Path:
    """Train and write the adapter folder; returns it. `start_from`: continue from that adapter's LoRA
    (`build_trainer`); `finish_card`: what the caller adds to the card (an update's parent); `window`: the
    sessions the adapter covers (`window.json`) when not only its dataset's (an update's: its parent's too)."""
    inputs = check_inputs(options)

    import torch
    from accelerate import PartialState

    from wechat_twin.training.progress import show_loss_in_progress_bar  # transformers' trainer modules: torch, seconds

    # cpu=True on a CPU machine: accelerate then treats `torchrun`/`accelerate launch --cpu` processes as one
    # gloo data-parallel group (MULTI_CPU) instead of each as a lone main process; the first state made wins.
    process = PartialState(cpu=not torch.cuda.is_available())
    if process.is_main_process:
        if not inputs.resume:
            shutil.rmtree(inputs.checkpoints, ignore_errors=True)
        private_dir(inputs.checkpoints)  # weights and optimizer state learned from the chats
        write_private(inputs.checkpoints / OPTIONS_FILE, json.dumps(options.card_args(), indent=1))
    process.wait_for_everyone()
    total_steps = _total_steps(options, len(inputs.train.samples), process.num_processes)
    trainer = build_trainer(options, inputs, total_steps, start_from)
    show_loss_in_progress_bar(trainer)
    if process.is_main_process:
        dev = len(inputs.dev.samples) if inputs.dev else 0
        targets = ", ".join(sorted(trainer.model.peft_config["default"].target_modules))
        progress_console().print(
            ("continuing " + str(start_from) + "'s " if start_from else "training ")
            + f"LoRA r={options.rank} ({targets}) on {inputs.base.served_name}: "
            f"{len(inputs.train.samples)} train / {dev} dev samples, {total_steps} steps"
            + (f", resuming from {inputs.checkpoints}" if inputs.resume else "")
        )
    started = time.monotonic()
    with owner_only_umask():  # the Trainer writes each checkpoint itself
        result = trainer.train(resume_from_checkpoint=True if inputs.resume else None)
    if process.is_main_process:
        lock_down(inputs.checkpoints)  # a resumed run's older checkpoints too
    metrics = _metrics(trainer, result, time.monotonic() - started, inputs.dev is not None)
    card = _card(options, inputs, metrics, process.num_processes, trainer.processing_class)
    window = window if window is not None else inputs.report.get("window")
    _write_adapter(trainer, inputs, finish_card(card) if finish_card else card, window)
    if process.is_main_process:
        progress_console().print(
            f"[green]adapter written[/] {inputs.out}  train loss {metrics['train_loss']:.3f}"
            + (f", dev loss {metrics['dev_loss']:.3f}" if "dev_loss" in metrics else "")
        )
    return inputs.out
