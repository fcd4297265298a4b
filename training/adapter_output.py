"""Write a trained LoRA as an adapter folder (docs/adapters.md): peft's files plus `twin.json`.

Every training step (SFT, DPO, KTO, continued pretraining) ends here, so every folder the
server is pointed at has the same shape: one adapter at the folder's root that vLLM loads
as it is, and a card saying where it came from.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wechat_twin.errors import TwinError
from wechat_twin.names import ADAPTER_NAME_RULE, is_adapter_name
from wechat_twin.private_files import lock_down, make_dirs, owner_only_umask, private_dir
from wechat_twin.server.adapters.card import TwinCard, write_card

# What vLLM and peft load from an adapter folder; everything else a trainer saves beside it is dropped.
_PEFT_FILES = {"adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"}


class AdapterOutputError(TwinError):
    """The message names the output folder and why it cannot be written."""


def prepare_output_dir(out: Path, overwrite: bool) -> Path:
    """Check before hours of training, not after, that the folder can be written and served by its name.

    Nothing is deleted here: a run refused later must leave an existing adapter as it was.
    """
    folder = Path(out).expanduser().resolve()
    if not is_adapter_name(folder.name):
        raise AdapterOutputError(f"{folder}: the folder name is the adapter's served name and {ADAPTER_NAME_RULE}")
    if folder.exists() and not folder.is_dir():
        raise AdapterOutputError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise AdapterOutputError(f"{folder}: already exists and is not empty (pass --overwrite to replace it)")
    return folder


def save_adapter(
    model: Any,
    out: Path,
    card: TwinCard,
    *,
    trainer: Any | None = None,
    extra_files: Callable[[Path], None] | None = None,
) -> Path:
    """Save peft's "default" adapter (a reference copy loaded beside it must not travel) and the card.

    Under `accelerate launch` every process calls this and only the main one writes, so DDP ranks
    do not race on one folder. With `trainer`, its `save_model` runs on every process instead of
    `model.save_pretrained`: under FSDP that gathers the sharded LoRA weights, which a plain
    `save_pretrained` on the main process would save as its own shard only.

    The folder is written beside its final place and swapped in whole, so a server scanning the
    adapters folder never sees half an adapter, and a crash leaves any previous one intact.
    `extra_files(folder)` adds files (a loss curve, a log) before the swap.
    """
    from accelerate import PartialState

    state = PartialState()
    partial = out.with_name(f".{out.name}.partial")
    if state.is_main_process:
        make_dirs(out.parent)
        shutil.rmtree(partial, ignore_errors=True)
        private_dir(partial)
    state.wait_for_everyone()
    with owner_only_umask():  # the trainer and peft write their own files: owner-only from the first byte
        if trainer is not None:
            trainer.save_model(str(partial))
        elif state.is_main_process:
            model.save_pretrained(partial, selected_adapters=["default"])
    if state.is_main_process:
        for leftover in partial.iterdir():  # the trainer's tokenizer, arguments, model card, other adapters
            if leftover.is_dir():
                shutil.rmtree(leftover)
            elif leftover.name not in _PEFT_FILES:
                leftover.unlink()
        write_card(partial, card)
        if extra_files is not None:
            extra_files(partial)
        lock_down(partial)
        if out.exists():
            shutil.rmtree(out)
        partial.rename(out)
    state.wait_for_everyone()
    return out
