"""LoRA SFT throughput on one GPU: TRL's SFTTrainer with packing vs without, same model, same data, one run.

Nothing can be downloaded on the GPU machines, so the model is a 7B-class Qwen2 shape
(hidden 3584, 28 layers, 28 heads, 4 KV heads, MLP 18944, vocab 152064) with random
weights, in bf16, with sdpa attention, gradient checkpointing and a LoRA r=16 on every
linear layer. Weights do not change the arithmetic, so the numbers hold for a real
checkpoint of that shape.

The data imitates chat samples: a few hundred conversations whose lengths follow a
log-normal distribution (median ~120 tokens) clipped to 40..400 tokens. Real chat data is
short and uneven, which is what makes padding expensive and packing worth measuring.

Both runs see the same token budget per step: the unpacked run takes --batch-size samples
padded to the longest in the batch; the packed run takes one padding-free row of
--batch-size x --max-tokens tokens (TRL's best-fit-decreasing packing). Throughput counts
only real (non-pad) tokens and leaves out the first --warmup-steps steps.
MFU = 6 x N_params x tokens/s / peak bf16 FLOP/s (N_params: the base model, embeddings
included; --peak-flops defaults to an H100 SXM's dense 989 TFLOP/s).

    python bench/train_gpu.py                      # the 7B shape on the CUDA GPU
    python bench/train_gpu.py --steps 30 --batch-size 32
    python bench/train_gpu.py --tiny               # same code path, tiny model, on CPU (smoke test)

Without a CUDA GPU (and without --tiny) it prints a line starting with "SKIP:" and exits 0.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

H100_SXM_BF16_FLOPS = 989e12
PAD_ID = 0
EOS_ID = 1
FIRST_CONTENT_ID = 2

QWEN2_7B_SHAPE = {
    "hidden_size": 3584,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "intermediate_size": 18944,
    "vocab_size": 152064,
}
TINY_SHAPE = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "vocab_size": 1024,
}


@dataclass
class RunResult:
    mode: str
    params: int
    timed_steps: int
    tokens: int
    seconds: float
    peak_memory_bytes: int | None

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    def mfu(self, peak_flops: float) -> float:
        return 6 * self.params * self.tokens_per_second / peak_flops


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU: checks the code path in seconds")
    parser.add_argument("--steps", type=int, help="optimizer steps per run (default 20; tiny 3)")
    parser.add_argument("--warmup-steps", type=int, help="steps left out of the timing (default 3; tiny 1)")
    parser.add_argument("--batch-size", type=int, help="samples per step without packing (default 16; tiny 4)")
    parser.add_argument("--min-tokens", type=int, default=40, help="shortest sample")
    parser.add_argument("--max-tokens", type=int, default=400, help="longest sample")
    parser.add_argument("--samples", type=int, default=2000, help="synthetic conversations in the dataset")
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--peak-flops", type=float, default=H100_SXM_BF16_FLOPS, help="peak bf16 FLOP/s of the GPU")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    defaults = (
        {"steps": 3, "warmup_steps": 1, "batch_size": 4}
        if args.tiny
        else {"steps": 20, "warmup_steps": 3, "batch_size": 16}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.steps <= args.warmup_steps:
        parser.error(f"--steps ({args.steps}) must exceed --warmup-steps ({args.warmup_steps})")
    if not 0 < args.min_tokens <= args.max_tokens:
        parser.error("need 0 < --min-tokens <= --max-tokens")
    return args


def sample_lengths(rng: np.random.Generator, count: int, low: int, high: int) -> np.ndarray:
    """Chat samples are mostly short with a long tail: log-normal around ~120 tokens, clipped."""
    median = min(max(120, low), high)
    lengths = rng.lognormal(mean=math.log(median), sigma=0.6, size=count)
    return np.clip(np.rint(lengths), low, high).astype(np.int64)


def synthetic_dataset(args: argparse.Namespace, vocab_size: int):
    """Pre-tokenized samples (TRL skips tokenization for an `input_ids` column); each ends with EOS."""
    from datasets import Dataset

    rng = np.random.default_rng(args.seed)
    lengths = sample_lengths(rng, args.samples, args.min_tokens, args.max_tokens)
    rows = []
    for length in lengths:
        ids = rng.integers(FIRST_CONTENT_ID, vocab_size, size=int(length) - 1).tolist()
        rows.append([*ids, EOS_ID])
    return Dataset.from_dict({"input_ids": rows}), lengths


def placeholder_tokenizer():
    """SFTTrainer wants a tokenizer for its pad token; the data is already token ids."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(WordLevel({"<pad>": PAD_ID, "<eos>": EOS_ID}, unk_token="<pad>"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>")


def build_model(shape: dict[str, int], device: str, dtype):
    """Random weights from the config, created directly on the device (a 7B model never sits in host memory)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(
        **shape,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        tie_word_embeddings=False,
        use_cache=False,
        pad_token_id=PAD_ID,
        eos_token_id=EOS_ID,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    return model


def make_meter(warmup_steps: int, synchronize):
    """A callback that times steps after warm-up and reads the Trainer's own non-pad token counter."""
    from transformers import TrainerCallback

    class ThroughputMeter(TrainerCallback):
        def __init__(self) -> None:
            self.start: tuple[float, int] | None = None
            self.end: tuple[float, int] | None = None

        def on_step_end(self, args, state, control, **kwargs):
            synchronize()
            mark = (time.perf_counter(), state.num_input_tokens_seen)
            if state.global_step == warmup_steps:
                self.start = mark
            if state.global_step == args.max_steps:
                self.end = mark

    return ThroughputMeter()


def run_once(mode: str, args: argparse.Namespace, shape: dict[str, int], dataset, device: str) -> RunResult:
    import torch
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    on_gpu = device == "cuda"
    if on_gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = build_model(shape, device, torch.bfloat16 if on_gpu else torch.float32)
    params = sum(p.numel() for p in model.parameters())
    packed = mode == "packed"
    with tempfile.TemporaryDirectory(prefix="train-gpu-bench-") as output_dir:
        config = SFTConfig(
            output_dir=output_dir,
            max_steps=args.steps,
            per_device_train_batch_size=1 if packed else args.batch_size,
            gradient_accumulation_steps=1,
            packing=packed,
            packing_strategy="bfd",
            max_length=args.batch_size * args.max_tokens if packed else args.max_tokens,
            gradient_checkpointing=True,
            bf16=on_gpu,
            use_cpu=not on_gpu,
            optim="adamw_torch_fused" if on_gpu else "adamw_torch",
            learning_rate=1e-4,
            lr_scheduler_type="constant",
            include_num_input_tokens_seen="non_padding",
            logging_steps=args.steps,
            save_strategy="no",
            report_to="none",
            dataloader_num_workers=0,
            seed=args.seed,
        )
        peft_config = LoraConfig(
            r=args.lora_rank,
            lora_alpha=2 * args.lora_rank,
            lora_dropout=0.0,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
        meter = make_meter(args.warmup_steps, torch.cuda.synchronize if on_gpu else lambda: None)
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=dataset,
            processing_class=placeholder_tokenizer(),
            peft_config=peft_config,
            callbacks=[meter],
        )
        trainer.train()
        peak = torch.cuda.max_memory_allocated() if on_gpu else None
        del trainer
    del model
    gc.collect()
    if meter.start is None or meter.end is None:
        raise RuntimeError(f"{mode}: training stopped before step {args.steps}; no timing taken")
    return RunResult(
        mode=mode,
        params=params,
        timed_steps=args.steps - args.warmup_steps,
        tokens=meter.end[1] - meter.start[1],
        seconds=meter.end[0] - meter.start[0],
        peak_memory_bytes=peak,
    )


def report(result: RunResult, peak_flops: float) -> None:
    memory = f"{result.peak_memory_bytes / 2**30:.1f} GiB" if result.peak_memory_bytes is not None else "n/a (CPU)"
    print(
        f"{result.mode:>8}: params {result.params:,} | tokens/s {result.tokens_per_second:,.0f} "
        f"| MFU {100 * result.mfu(peak_flops):.1f}% | peak GPU memory {memory} "
        f"| {result.tokens:,} non-pad tokens in {result.seconds:.1f} s over {result.timed_steps} steps",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if args.tiny:
        device, shape = "cpu", TINY_SHAPE
    elif torch.cuda.is_available():
        device, shape = "cuda", QWEN2_7B_SHAPE
    else:
        print("SKIP: no CUDA GPU here; run on a GPU machine, or pass --tiny for the CPU smoke test", flush=True)
        return 0

    import transformers

    transformers.logging.set_verbosity_error()
    dataset, lengths = synthetic_dataset(args, shape["vocab_size"])
    where = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(
        f"model: Qwen2 shape {shape} on {where} | LoRA r={args.lora_rank} all-linear | {len(lengths)} samples, "
        f"{lengths.min()}-{lengths.max()} tokens (median {int(np.median(lengths))}) | {args.steps} steps, "
        f"{args.warmup_steps} warm-up | peak {args.peak_flops / 1e12:.0f} TFLOP/s",
        flush=True,
    )
    results = {}
    for mode in ("unpacked", "packed"):
        results[mode] = run_once(mode, args, shape, dataset, device)
        report(results[mode], args.peak_flops)
    ratio = results["packed"].tokens_per_second / results["unpacked"].tokens_per_second
    print(f"packed/unpacked tokens/s: {ratio:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
