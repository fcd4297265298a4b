"""`--config FILE.yaml` on `twin-train`'s commands: the file's values parse to the same settings as the flags.

The commands' options are generated from their settings dataclasses (`wechat_twin.options`), so these
tests parse real command lines with click's own parser and build the settings the command would receive;
nothing trains. A mistake in the file is one `error:` line naming the key and the file, exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from wechat_twin.errors import UsageError
from wechat_twin.options import settings_from
from wechat_twin.server.basemodel.hub import Hub
from wechat_twin.training.cli import app
from wechat_twin.training.dataset.pipeline import PipelineOptions
from wechat_twin.training.formats.registry import FormatChoice
from wechat_twin.training.preference.settings import PreferenceSettings
from wechat_twin.training.pretrain.cpt import CptSettings
from wechat_twin.training.sft.train import LrScheduler, SFTOptions


def _parsed(command: str, args: list[str]) -> dict:
    """The values click parses for `twin-train COMMAND ARGS`, as the command function receives them."""
    click_command = typer.main.get_command(app).commands[command]
    with click_command.make_context(command, args) as ctx:
        return ctx.params


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


SFT_YAML = """\
data_dir: data
out: adapters/jay
model: HuggingFaceTB/SmolLM2-135M-Instruct
revision: v2
hub: huggingface
rank: 8
learning_rate: 1.0e-4
lr_scheduler: linear
epochs: 2
target_modules: [q_proj, v_proj]
packing: true
assistant_only_loss: false
memory: true
memory_k: 3
"""
SFT_FLAGS = [
    "data",
    "--out",
    "adapters/jay",
    "--model",
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    "--revision",
    "v2",
    "--hub",
    "huggingface",
    "--rank",
    "8",
    "--learning-rate",
    "1e-4",
    "--lr-scheduler",
    "linear",
    "--epochs",
    "2",
    "--target-modules",
    "q_proj",
    "--target-modules",
    "v_proj",
    "--packing",
    "--no-assistant-only-loss",
    "--memory",
    "--memory-k",
    "3",
]


def test_a_yaml_config_gives_the_same_sft_settings_as_the_flags(tmp_path):
    from_file = settings_from(SFTOptions, _parsed("sft", ["--config", str(_yaml(tmp_path, SFT_YAML))]))
    from_flags = settings_from(SFTOptions, _parsed("sft", SFT_FLAGS))
    assert from_file == from_flags
    assert from_file.lr_scheduler is LrScheduler.LINEAR and from_file.hub is Hub.HUGGINGFACE
    assert from_file.target_modules == ["q_proj", "v_proj"] and from_file.data_dir == Path("data")
    assert (from_file.rank, from_file.learning_rate, from_file.packing, from_file.memory_k) == (8, 1e-4, True, 3)
    # what the file leaves out keeps the one default, as with no file at all
    assert from_file.alpha == SFTOptions.alpha and from_file.seed == SFTOptions.seed


def test_an_option_on_the_command_line_wins_over_the_file(tmp_path):
    config = _yaml(tmp_path, SFT_YAML)
    settings = settings_from(SFTOptions, _parsed("sft", ["--config", str(config), "--rank", "4", "--no-packing"]))
    assert settings.rank == 4 and settings.packing is False and settings.epochs == 2  # the rest from the file
    # the positional DATA_DIR too, wherever --config stands
    settings = settings_from(SFTOptions, _parsed("sft", ["other", "--config", str(config)]))
    assert settings.data_dir == Path("other")


def test_keys_are_the_field_names_or_the_long_options(tmp_path):
    config = _yaml(tmp_path, "heldout: 0.2\ngradient_accumulation: 4\nlr: 3.0e-5\nbeta: 0.2\n")
    parsed = _parsed("dpo", ["parent", "--feedback", "f.jsonl", "--config", str(config)])
    assert settings_from(PreferenceSettings, parsed) == PreferenceSettings(
        heldout_fraction=0.2, gradient_accumulation=4, learning_rate=3e-5, beta=0.2
    )
    config = _yaml(tmp_path, "lora-r: 8\nheldout_fraction: 0.1\n")
    assert settings_from(CptSettings, _parsed("cpt", ["posts.txt", "-o", "x", "--config", str(config)])) == CptSettings(
        lora_r=8, heldout_fraction=0.1
    )
    with pytest.raises(UsageError, match="unknown key 'lora-r'"):
        _parsed("kto", ["parent", "-f", "f.jsonl", "--config", str(config)])  # cpt's option, not kto's


def test_an_unknown_key_is_one_error_line_naming_the_key_and_the_file(tmp_path):
    config = _yaml(tmp_path, "rank: 8\nlearning_rte: 1.0e-4\n")
    result = CliRunner().invoke(app, ["sft", "data", "--out", str(tmp_path / "a"), "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "'learning_rte'" in result.stderr and str(config) in result.stderr
    assert result.stdout == "" and not (tmp_path / "a").exists()


def test_a_value_from_the_file_is_checked_as_a_typed_one_is(tmp_path):
    config = _yaml(tmp_path, "lr_scheduler: sideways\n")
    result = CliRunner().invoke(app, ["sft", "data", "--out", str(tmp_path / "a"), "--config", str(config)])
    assert result.exit_code == 2 and "sideways" in result.stderr
    config = _yaml(tmp_path, "- rank\n- 8\n")
    result = CliRunner().invoke(app, ["sft", "data", "--out", str(tmp_path / "a"), "--config", str(config)])
    assert result.exit_code == 2 and result.stderr.startswith("error: --config ") and "mapping" in result.stderr


def test_twin_train_data_takes_a_config_too(tmp_path):
    config = _yaml(tmp_path, "out: data/me\nformat: memotrace\nme: Jay\nallow: [Mia, Bo]\nmemory: false\n")
    parsed = _parsed("data", ["export.csv", "--config", str(config), "--allow", "Li"])
    assert settings_from(PipelineOptions, parsed) == PipelineOptions(
        out=Path("data/me"), format=FormatChoice.memotrace, me=("Jay",), allow=("Li",), memory=False
    )  # a single value for a repeatable option is one item; the command line's --allow replaces the file's list
    assert settings_from(PipelineOptions, _parsed("data", ["export.csv", "-o", "x"])) == PipelineOptions(out=Path("x"))
