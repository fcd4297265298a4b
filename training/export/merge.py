"""Fold a LoRA into its base with peft's merge and write the result as a plain Hugging Face folder.

The folder is what `from_pretrained`, vLLM and `twin-server serve --model DIR` load as they are: weights,
config, generation config and the tokenizer, whose chat template carries the persona as the default
system prompt. It holds the clone, so it is written readable by the owner only, like every adapter.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wechat_twin.private_files import lock_down, owner_only_umask, private_dir, write_private
from wechat_twin.server.adapters.card import TwinCard
from wechat_twin.training.export.ollama import MODELFILE, is_chatml, modelfile, stop_tokens
from wechat_twin.training.export.persona_template import with_default_system


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    modelfile: Path | None
    template_written: bool


def _eos_ids(model: Any) -> list[int]:
    eos = model.generation_config.eos_token_id
    ids = eos if isinstance(eos, list) else [eos]
    return [i for i in ids if i is not None]


def merge_adapter(adapter: Path, base: Path, card: TwinCard, out: Path, dtype: str, ollama: bool) -> ExportResult:
    """Merge, save beside `out`, then swap it in whole: a failed export leaves no half-written model."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    base_template = tokenizer.chat_template or ""
    model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype) if dtype != "auto" else "auto")
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    if card.system_prompt and base_template:
        tokenizer.chat_template = with_default_system(base_template, card.system_prompt)
    ollama_text = None
    if ollama:
        stops = stop_tokens(tokenizer, _eos_ids(merged), is_chatml(base_template))
        ollama_text = modelfile(card.system_prompt, base_template, stops)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    private_dir(staging)
    with owner_only_umask():  # peft and the tokenizer write their own files
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    if ollama_text is not None:
        write_private(staging / MODELFILE, ollama_text)
    lock_down(staging)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return ExportResult(out, out / MODELFILE if ollama_text is not None else None, is_chatml(base_template))
