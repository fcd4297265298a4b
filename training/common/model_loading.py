"""The base model and tokenizer as every trainer here loads them: checked, in the right precision, placed.

SFT uses these directly; DPO/KTO/continued pretraining can too, so that all of them refuse
the same bad inputs with the same messages and train in the same dtype.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from wechat_twin.errors import TwinError
from wechat_twin.server.engines.device import Device, pick_device, probe, training_dtype_name


class BaseModelLoadError(TwinError):
    """The message names the model folder and what is wrong with it."""


def training_dtype() -> Any:
    """The dtype for the device training runs on (CUDA, then MPS, then CPU): bf16 where CUDA has it, else fp32."""
    import torch

    found = probe()
    return getattr(torch, training_dtype_name(pick_device(Device.auto, found), found))


def check_causal_lm(path: Path) -> None:
    """Refuse a folder that is not a causal LM from its config alone, before seconds of weight loading."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if not (Path(path) / "config.json").is_file():
        raise BaseModelLoadError(f"{path}: no config.json, so it is not a Hugging Face model folder")
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:
        raise BaseModelLoadError(f"{path}: cannot read its config.json ({exc})") from exc
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise BaseModelLoadError(f"{path}: model_type {config.model_type!r} is not a causal language model")


def check_qlora_possible() -> None:
    import torch

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise BaseModelLoadError("--qlora needs a CUDA GPU and the bitsandbytes package")


def load_tokenizer(path: Path) -> Any:
    """The base tokenizer; batches need a pad token, and the end-of-sequence one is what chat models stop on."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.chat_template:
        raise BaseModelLoadError(f"{path}: the tokenizer has no chat template; use an instruct/chat base model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(path: Path, qlora: bool = False) -> Any:
    """The base in training precision; with `qlora`, 4-bit NF4 on this process's GPU (one copy per DDP rank)."""
    from transformers import AutoModelForCausalLM

    dtype = training_dtype()
    extra: dict[str, Any] = {}
    if qlora:
        check_qlora_possible()
        from accelerate import PartialState
        from transformers import BitsAndBytesConfig

        extra["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=True,
            bnb_4bit_quant_storage=dtype,
        )
        extra["device_map"] = {"": PartialState().local_process_index}
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **extra)
