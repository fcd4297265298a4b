"""deploy/accelerate: the configs go through accelerate's own loaders, launcher and FSDP plugin."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from accelerate.commands.config.config_args import ClusterConfig
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_multi_gpu_env

from tests.deploy.files import DEPLOY

CONFIGS = {"ddp": DEPLOY / "accelerate" / "ddp.yaml", "fsdp": DEPLOY / "accelerate" / "fsdp.yaml"}
TWIN_TRAIN = shutil.which("twin-train", path=str(Path(sys.executable).parent)) or "twin-train"


def launch_env(config: Path, processes: int = 4) -> tuple[object, dict[str, str]]:
    """What `accelerate launch --config_file CONFIG --num_processes N twin-train sft` would hand each process."""
    argv = ["--config_file", str(config), "--num_processes", str(processes), TWIN_TRAIN, "sft", "--help"]
    args, _defaults, _ = _validate_launch_command(launch_command_parser().parse_args(argv))
    return args, prepare_multi_gpu_env(args)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_loads_without_unknown_keys(name: str) -> None:
    config = ClusterConfig.from_yaml_file(CONFIGS[name])
    expected = {"ddp": DistributedType.MULTI_GPU, "fsdp": DistributedType.FSDP}[name]
    assert config.distributed_type == expected
    assert config.mixed_precision == "bf16"
    assert config.num_machines == 1 and config.num_processes >= 2


def test_fsdp_keys_are_ones_the_launcher_knows() -> None:
    """accelerate copies fsdp_config keys onto its arguments without checking them: a typo is silently ignored."""
    known = {action.dest for action in launch_command_parser()._actions}
    keys = ClusterConfig.from_yaml_file(CONFIGS["fsdp"]).fsdp_config
    unknown = [key for key in keys if key not in known]
    assert not unknown, f"fsdp.yaml: accelerate launch has no {unknown}"


def test_ddp_launch_spreads_over_the_requested_gpus() -> None:
    args, env = launch_env(CONFIGS["ddp"], processes=4)
    assert args.multi_gpu and not args.use_fsdp
    assert args.num_processes == 4, "--num_processes on the command line must win over the file"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


def fsdp_plugin() -> FullyShardedDataParallelPlugin:
    args, env = launch_env(CONFIGS["fsdp"])
    assert args.use_fsdp
    with mock.patch.dict(os.environ, env, clear=True):
        return FullyShardedDataParallelPlugin()


def test_fsdp_settings_suit_lora() -> None:
    from torch.distributed.fsdp import StateDictType
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

    plugin = fsdp_plugin()
    assert plugin.use_orig_params is True, "frozen and trainable weights share FSDP units under LoRA"
    assert plugin.auto_wrap_policy is transformer_auto_wrap_policy
    assert plugin.state_dict_type == StateDictType.FULL_STATE_DICT, "the saved adapter must be a plain peft folder"
    assert plugin.activation_checkpointing is False, "transformers refuses it together with gradient_checkpointing"


def tiny(architecture: str):
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    config_class = {"qwen2": Qwen2Config, "llama": LlamaConfig}[architecture]
    config = config_class(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        vocab_size=256,
    )
    return AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)


@pytest.mark.parametrize(("architecture", "layer"), [("qwen2", "Qwen2DecoderLayer"), ("llama", "LlamaDecoderLayer")])
def test_fsdp_wraps_each_decoder_layer_without_naming_it(architecture: str, layer: str) -> None:
    """One file for every base model: the layer class comes from the model (SmolLM2 is Llama, Qwen2 is Qwen2)."""
    plugin = fsdp_plugin()
    plugin.set_auto_wrap_policy(tiny(architecture))
    assert {cls.__name__ for cls in plugin.auto_wrap_policy.keywords["transformer_layer_cls"]} == {layer}


def test_lora_layers_get_their_own_fsdp_units() -> None:
    """The Trainer swaps in peft's policy for LoRA models: fp32 LoRA weights are never flattened with bf16 ones."""
    from peft import LoraConfig, get_peft_model
    from peft.utils.other import fsdp_auto_wrap_policy

    _args, env = launch_env(CONFIGS["fsdp"])
    model = get_peft_model(tiny("qwen2"), LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    with mock.patch.dict(os.environ, env, clear=True):
        policy = fsdp_auto_wrap_policy(model)
    modules = dict(model.named_modules())
    lora_a = next(m for name, m in modules.items() if name.endswith("q_proj.lora_A.default"))
    frozen = next(m for name, m in modules.items() if name.endswith("q_proj.base_layer"))
    decoder = next(m for m in modules.values() if type(m).__name__ == "Qwen2DecoderLayer")
    assert policy(module=lora_a, recurse=False, nonwrapped_numel=0)
    assert policy(module=decoder, recurse=False, nonwrapped_numel=0)
    assert not policy(module=frozen, recurse=False, nonwrapped_numel=0)


def test_accelerate_launch_runs_the_twin_train_console_script() -> None:
    """The documented form, `accelerate launch ... "$(which twin-train)" ...`, starts our CLI (here on CPU)."""
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate and Path(TWIN_TRAIN).is_file()
    result = subprocess.run(
        [
            accelerate,
            "launch",
            "--config_file",
            str(CONFIGS["ddp"]),
            "--cpu",
            "--num_processes",
            "1",
            TWIN_TRAIN,
            "--help",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage:" in result.stdout
    assert re.search(r"^\W*data\s", result.stdout, re.MULTILINE), "twin-train's subcommands are not listed"
