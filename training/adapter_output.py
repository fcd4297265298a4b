"""Write a trained LoRA as an adapter folder of DESIGN.md's contract: peft's files plus `twin.json`.

Every training step (SFT, DPO, KTO, continued pretraining) ends here, so every folder the
server is pointed at has the same shape: one adapter at the folder's root that vLLM loads
as it is, and a card saying where it came from.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from server.adapters.card import TwinCard, is_valid_adapter_name, write_card


class AdapterOutputError(ValueError):
    """The message names the output folder and why it cannot be written."""


def prepare_output_dir(out: Path, overwrite: bool) -> Path:
    """Check before hours of training, not after, that the folder can be written and served by its name.

    Nothing is deleted here: a run refused later must leave an existing adapter as it was.
    """
    folder = Path(out).expanduser().resolve()
    if not is_valid_adapter_name(folder.name):
        raise AdapterOutputError(
            f"{folder}: the folder name is the adapter's served name and must match ^[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}$"
        )
    if folder.exists() and not folder.is_dir():
        raise AdapterOutputError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise AdapterOutputError(f"{folder}: already exists and is not empty (pass --overwrite to replace it)")
    return folder


def save_adapter(model: Any, out: Path, card: TwinCard) -> Path:
    """Save peft's "default" adapter (a reference copy loaded beside it must not travel) and the card.

    The folder is written beside its final place and swapped in whole, so a server scanning the
    adapters folder never sees half an adapter, and a crash leaves any previous one intact.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, selected_adapters=["default"])
    write_card(partial, card)
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return out
