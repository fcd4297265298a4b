"""Refuse, before the engine sees it, a folder that is not a LoRA for this base model.

vLLM's own errors for such folders are deep stack traces (or a silently wrong model);
checking the peft config and the weight shapes against the base config gives the user
a 400 that says which file and which field is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wechat_twin.errors import TwinError
from wechat_twin.server.adapters.card import read_card

_LAYER = re.compile(r"\.layers\.(\d+)\.")


class AdapterInvalid(TwinError):
    """The message names the folder and what is wrong with it."""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterInvalid(f"{path}: cannot be read as JSON ({exc})") from exc


def _weight_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:
        raise AdapterInvalid(f"{path}: not a readable safetensors file ({exc})") from exc


def _same_base(card_base: str, base_names: Sequence[str], base_config: dict[str, Any]) -> bool:
    """The card's base is the served one, by one of its names or by another spelling of the same model: a local
    folder, a hub id ORG/NAME and the embedded short name agree on their last part."""
    if card_base in (*base_names, str(base_config.get("_name_or_path", ""))):
        return True
    return Path(card_base).name in {Path(name).name for name in base_names}


def check_adapter_files(
    folder: Path,
    base_config: dict[str, Any],
    base_names: Sequence[str],
    max_rank: int,
    base_revision: str | None = None,
) -> None:
    """What can be read from the folder's small JSON files (peft's config, `twin.json`): cheap enough to run on
    every folder at start-up, however many clones there are; the weights are checked when one is first used.
    `base_names`: the served name first, then what the base was resolved from (hub id, folder); a `--served-name`
    is the clients' name for the base, not the one training recorded. `base_revision` is the server's
    `--revision`."""
    if not folder.is_dir():
        raise AdapterInvalid(f"{folder} is not a folder")
    config_path = folder / "adapter_config.json"
    weights_path = folder / "adapter_model.safetensors"
    if not config_path.is_file():
        raise AdapterInvalid(f"{folder} has no adapter_config.json: it is not a peft adapter folder")
    if not weights_path.is_file():
        raise AdapterInvalid(f"{folder} has no adapter_model.safetensors")
    config = _read_json(config_path)
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterInvalid(f"{config_path}: peft_type is {config.get('peft_type')!r}, not LORA")
    rank = int(config.get("r", 0))
    if rank > max_rank:
        raise AdapterInvalid(f"{config_path}: rank r={rank} is above the server's --max-lora-rank {max_rank}")
    card = read_card(folder)
    if card is not None and not _same_base(card.base_model, base_names, base_config):
        raise AdapterInvalid(
            f"{folder / 'twin.json'}: base_model is {card.base_model!r} but this server serves "
            + " from ".join(map(repr, dict.fromkeys(base_names)))
        )
    if card is not None and card.base_revision and base_revision and card.base_revision != base_revision:
        # Same shapes, other weights: the LoRA would load and answer worse, so it is refused as another base is.
        raise AdapterInvalid(
            f"{folder / 'twin.json'}: trained on {card.base_model} at revision {card.base_revision!r}, but this "
            f"server serves it at --revision {base_revision!r}; serve that revision, or train again on this one"
        )


def validate_adapter_folder(
    folder: Path,
    base_config: dict[str, Any],
    base_names: Sequence[str],
    max_rank: int,
    base_revision: str | None = None,
) -> None:
    """Everything `check_adapter_files` checks, then the weights' shapes against the base model's layers."""
    check_adapter_files(folder, base_config, base_names, max_rank, base_revision)
    weights_path = folder / "adapter_model.safetensors"
    hidden = base_config.get("hidden_size")
    inner = base_config.get("intermediate_size")
    layers = base_config.get("num_hidden_layers")
    allowed_in = {d for d in (hidden, inner) if d}
    for key, shape in _weight_shapes(weights_path).items():
        layer = _LAYER.search(key)
        if layer and layers and int(layer.group(1)) >= layers:
            raise AdapterInvalid(f"{weights_path}: {key} targets layer {layer.group(1)}, the base has {layers}")
        if "lora_A" in key and len(shape) == 2 and allowed_in and shape[1] not in allowed_in:
            raise AdapterInvalid(
                f"{weights_path}: {key} has input size {shape[1]}, the base model's layers take "
                f"{sorted(allowed_in)}: this LoRA was trained on another base model"
            )
