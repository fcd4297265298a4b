"""LoRA SFT against LLaMA-Factory: same data, model, LoRA and schedule; tokens/s, time, memory, dev loss.

    python bench/train.py                  # one epoch of the sample export on the embedded model, each trainer once
    python bench/train.py --rounds 2       # alternate the order: ours, LLaMA-Factory, then LLaMA-Factory, ours

Every tutorial this project replaces trains with `llamafactory-cli train`. Both trainers sit on
transformers' Trainer, so what decides the race is what they feed it (padding, masking, data
loading). The bench makes the sample export's dataset once (`twin-train data --llamafactory`
writes LLaMA-Factory's sharegpt layout beside ours) and gives both the same LoRA (rank, alpha,
dropout, every linear layer), learning rate, schedule, warm-up, batch, epochs, cutoff and seed.

LLaMA-Factory runs from its own venv (its pins differ from ours), made on first use under
`~/.cache/wechat-twin/bench/` (`--llamafactory-venv` to place it elsewhere). Each trainer runs in
a fresh process whose peak resident memory (max RSS of the training process) is read back.

Measured per trainer: training tokens per second (the real, non-padding tokens of the training
samples rendered by the base chat template, divided by the trainer's own training time), wall
time of the whole command, peak memory, and the dev loss of the adapter it wrote. The dev loss of
both adapters is computed by the same code (`twin-train eval`'s perplexity over the owner's
tokens), so the two numbers differ by the weights alone. Goals: >= 1.2x LLaMA-Factory's tokens/s,
dev loss at most 2% above its, peak memory <= 1.0x.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LLAMAFACTORY = "llamafactory==0.9.5"
GOAL_SPEED = 1.2  # our tokens/s over LLaMA-Factory's
GOAL_LOSS = 1.02  # our dev loss over LLaMA-Factory's, at most
GOAL_MEMORY = 1.0  # our peak memory over LLaMA-Factory's, at most
SAMPLE_EXPORT = Path(__file__).resolve().parent.parent / "examples" / "memotrace_sample"
DEFAULT_VENV = Path.home() / ".cache" / "wechat-twin" / "bench" / "llamafactory-0.9.5"
# Runs `command` (argv after the script) and prints its max RSS in KiB: a fresh parent per trainer, so the
# number is that trainer's alone (RUSAGE_CHILDREN keeps the largest child a process has waited for).
AUDIO_STUB = '''"""Stands in for torchaudio, which has no build for this torch: the bench trains on text only."""


def __getattr__(name):
    raise ImportError(f"torchaudio.{name}: torchaudio is not installed for this torch build (text-only bench)")
'''
PEAK_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


@dataclass(frozen=True)
class Recipe:
    """What both trainers are given; the defaults are `twin-train sft`'s where it has them."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    batch_size: int = 4
    epochs: float = 1.0
    max_length: int = 1024
    seed: int = 42

    def ours(self, data: Path, out: Path, model: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "wechat_twin.training.cli",
            "sft",
            str(data),
            "--out",
            str(out),
            "--model",
            str(model),
            "--rank",
            str(self.rank),
            "--alpha",
            str(self.alpha),
            "--dropout",
            str(self.dropout),
            "--learning-rate",
            str(self.learning_rate),
            "--lr-scheduler",
            self.lr_scheduler,
            "--warmup-ratio",
            str(self.warmup_ratio),
            "--batch-size",
            str(self.batch_size),
            "--grad-accum",
            "1",
            "--epochs",
            str(self.epochs),
            "--max-length",
            str(self.max_length),
            "--seed",
            str(self.seed),
            "--evals",
            "1",
            "--overwrite",
        ]

    def llamafactory(self, dataset_dir: Path, dataset: str, out: Path, model: Path) -> dict[str, object]:
        """LLaMA-Factory's training YAML for the same run (its names: `lora_target: all` is every linear layer)."""
        return {
            "model_name_or_path": str(model),
            "trust_remote_code": False,
            "stage": "sft",
            "do_train": True,
            "finetuning_type": "lora",
            "lora_rank": self.rank,
            "lora_alpha": self.alpha,
            "lora_dropout": self.dropout,
            "lora_target": "all",
            "dataset_dir": str(dataset_dir),
            "dataset": dataset,
            "template": "smollm2",
            "cutoff_len": self.max_length,
            "overwrite_cache": True,
            "preprocessing_num_workers": 1,
            "output_dir": str(out),
            "overwrite_output_dir": True,
            "logging_steps": 10,
            "save_strategy": "no",
            "plot_loss": False,
            "report_to": "none",
            "per_device_train_batch_size": self.batch_size,
            "gradient_accumulation_steps": 1,
            "learning_rate": self.learning_rate,
            "num_train_epochs": self.epochs,
            "lr_scheduler_type": self.lr_scheduler,
            "warmup_ratio": self.warmup_ratio,
            "seed": self.seed,
            "bf16": False,
            "dataloader_num_workers": 0,
        }


@dataclass
class Run:
    trainer: str
    seconds: float  # the trainer's own training time
    wall: float  # the whole command: start-up, data preparation, training, saving
    peak_kib: int
    dev_loss: float = math.nan

    def tokens_per_second(self, tokens: int) -> float:
        return tokens / self.seconds


def ensure_llamafactory(venv: Path) -> Path:
    """`llamafactory-cli` from its own venv, made once: its transformers/peft/TRL pins are not ours."""
    cli, python = venv / "bin" / "llamafactory-cli", venv / "bin" / "python"
    if not cli.is_file():
        import torch

        print(f"making LLaMA-Factory's venv in {venv} ({LLAMAFACTORY}; once, a few minutes)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        torch_pin = f"torch=={torch.__version__.split('+')[0]}"  # our torch build: the CPU wheel on a CPU machine
        subprocess.run([str(python), "-m", "pip", "install", "-q", LLAMAFACTORY, torch_pin], check=True)
    # PyPI's torchvision and torchaudio are built against the CUDA torch and break transformers' import next to
    # the CPU one; text-only training never needs them.
    for extra in ("torchvision", "torchaudio"):
        if subprocess.run([str(python), "-c", f"import {extra}"], capture_output=True, check=False).returncode:
            subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", extra], check=True)
    if subprocess.run([str(python), "-c", "import torchaudio"], capture_output=True, check=False).returncode:
        # LLaMA-Factory imports torchaudio at start-up but calls it only for audio inputs, and PyPI has no
        # torchaudio for every torch build: a module that says so if it is ever used stands in.
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        stub = Path(site) / "torchaudio"
        stub.mkdir(exist_ok=True)
        (stub / "__init__.py").write_text(AUDIO_STUB)
    return cli


def embedded_model() -> Path:
    from wechat_twin.server.basemodel.embedded import ensure_embedded_model

    return ensure_embedded_model()


def make_dataset(work: Path) -> Path:
    """The sample export through `twin-train data --llamafactory`: our files and LLaMA-Factory's, same samples."""
    data = work / "data"
    command = [
        sys.executable,
        "-m",
        "wechat_twin.training.cli",
        "data",
        str(SAMPLE_EXPORT),
        "--out",
        str(data),
        "--llamafactory",
        "--no-memory",
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return data


def train_only(data: Path, work: Path) -> Path:
    """Our trainer without its dev set: no evaluations during training and the last weights kept, as LLaMA-Factory."""
    folder = work / "train-only"
    folder.mkdir(exist_ok=True)
    for name in ("train.jsonl", "report.json"):
        shutil.copy2(data / name, folder / name)
    return folder


def read_samples(path: Path) -> list[list[dict[str, str]]]:
    return [json.loads(line)["messages"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def real_tokens(model: Path, samples: list[list[dict[str, str]]], max_length: int) -> int:
    """The tokens a padding-free trainer computes on: each sample rendered by the chat template, cut at the cutoff."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    rendered = (tokenizer.apply_chat_template(s, tokenize=True, return_dict=True)["input_ids"] for s in samples)
    return sum(min(len(ids), max_length) for ids in rendered)


def timed(command: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak KiB of `command`, its output in `log`."""
    import time

    started = time.perf_counter()
    with log.open("w") as out:
        result = subprocess.run(
            [sys.executable, "-c", PEAK_WRAPPER, *command],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            check=False,
        )
    wall = time.perf_counter() - started
    lines = result.stderr.strip().splitlines()
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:] + lines[-15:])
        raise SystemExit(f"{command[0]} failed ({result.returncode}); its log: {log}\n{tail}")
    return wall, int(lines[-1])


def run_ours(recipe: Recipe, data: Path, model: Path, work: Path) -> Run:
    out = work / "ours"
    wall, peak = timed(recipe.ours(data, out, model), work / "ours.log")
    card = json.loads((out / "twin.json").read_text(encoding="utf-8"))
    return Run("wechat-twin", float(card["metrics"]["train_seconds"]), wall, peak)


def run_llamafactory(recipe: Recipe, cli: Path, data: Path, model: Path, work: Path) -> Run:
    import yaml

    out = work / "llamafactory"
    config = work / "llamafactory.yaml"
    info = json.loads((data / "llamafactory" / "dataset_info.json").read_text(encoding="utf-8"))
    dataset = next(name for name in info if name.endswith("_train"))
    config.write_text(yaml.safe_dump(recipe.llamafactory(data / "llamafactory", dataset, out, model)))
    env = {"DISABLE_VERSION_CHECK": "1", "HF_HUB_OFFLINE": "1", "WANDB_DISABLED": "true"}
    wall, peak = timed([str(cli), "train", str(config)], work / "llamafactory.log", env)
    results = json.loads((out / "train_results.json").read_text(encoding="utf-8"))
    return Run("llamafactory", float(results["train_runtime"]), wall, peak)


def dev_loss(model: Path, adapter: Path, dev: list[list[dict[str, str]]]) -> float:
    from wechat_twin.training.evaluate.perplexity import base_and_adapter_perplexity

    perplexities, _ = base_and_adapter_perplexity(model, adapter, dev)
    return math.log(perplexities["adapter"])


def ratios(ours: Run, theirs: Run, tokens: int) -> dict[str, float]:
    return {
        "speed": ours.tokens_per_second(tokens) / theirs.tokens_per_second(tokens),
        "loss": ours.dev_loss / theirs.dev_loss,
        "memory": ours.peak_kib / theirs.peak_kib,
    }


def verdict(ratio: dict[str, float]) -> str:
    met = {
        "speed": ratio["speed"] >= GOAL_SPEED,
        "loss": ratio["loss"] <= GOAL_LOSS,
        "memory": ratio["memory"] <= GOAL_MEMORY,
    }
    return "met" if all(met.values()) else "not met (" + ", ".join(k for k, ok in met.items() if not ok) + ")"


def report_line(run: Run, tokens: int) -> str:
    return (
        f"{run.trainer:>12}: tokens/s {run.tokens_per_second(tokens):,.0f} | train {run.seconds:.1f} s | "
        f"wall {run.wall:.1f} s | peak {run.peak_kib / 1024:,.0f} MiB | dev loss {run.dev_loss:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="Runs of each trainer, the order alternating")
    parser.add_argument("--epochs", type=float, default=Recipe.epochs, help="Passes over the training samples")
    parser.add_argument("--batch-size", type=int, default=Recipe.batch_size, help="Samples per step, both trainers")
    parser.add_argument("--llamafactory-venv", type=Path, default=DEFAULT_VENV, help="Where LLaMA-Factory's venv is")
    parser.add_argument("--keep", type=Path, help="Keep the work folder (data, adapters, logs) here")
    args = parser.parse_args()
    recipe = Recipe(epochs=args.epochs, batch_size=args.batch_size)
    cli = ensure_llamafactory(args.llamafactory_venv)
    model = embedded_model()
    work = Path(args.keep or tempfile.mkdtemp(prefix="twin-train-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = make_dataset(work)
    train, dev = read_samples(data / "train.jsonl"), read_samples(data / "dev.jsonl")
    tokens = round(real_tokens(model, train, recipe.max_length) * recipe.epochs)
    print(f"{len(train)} train / {len(dev)} dev samples, {tokens:,} real tokens per run; {recipe}")
    pairs: list[tuple[Run, Run]] = []
    for round_index in range(args.rounds):
        order = ["ours", "llamafactory"] if round_index % 2 == 0 else ["llamafactory", "ours"]
        runs: dict[str, Run] = {}
        for trainer in order:
            folder = work / f"round{round_index + 1}"
            folder.mkdir(exist_ok=True)
            if trainer == "ours":
                runs[trainer] = run_ours(recipe, train_only(data, folder), model, folder)
            else:
                runs[trainer] = run_llamafactory(recipe, cli, data, model, folder)
            runs[trainer].dev_loss = dev_loss(model, folder / trainer, dev)
            print(f"round {round_index + 1} " + report_line(runs[trainer], tokens), flush=True)
        pairs.append((runs["ours"], runs["llamafactory"]))
    for index, (ours, theirs) in enumerate(pairs, 1):
        ratio = ratios(ours, theirs, tokens)
        print(
            f"round {index}: tokens/s {ratio['speed']:.3f}x (goal >= {GOAL_SPEED}) | dev loss {ratio['loss']:.4f}x "
            f"(goal <= {GOAL_LOSS}) | peak memory {ratio['memory']:.3f}x (goal <= {GOAL_MEMORY}) | "
            f"{verdict(ratio)}"
        )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
