"""The options `twin-server serve` hands to vLLM are vLLM's own: same flag names, same values, same choices.

vLLM's argument parser (`EngineArgs.add_cli_args` on its `FlexibleArgumentParser`, what `vllm serve`
parses) reads the very flags our command was given; each keyword our engine passes to `AsyncEngineArgs`
must come out of it with the value we pass. No engine starts.
"""

from __future__ import annotations

import importlib.util
import typing
from types import ModuleType

import pytest
import uvicorn
from typer.testing import CliRunner

from wechat_twin.server.cli import app
from wechat_twin.server.engines.base import ExecutorBackend

# vLLM is imported by the tests, not at collection: importing it takes seconds that every pytest process (each
# worker, each pass) would pay to collect the suite.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed")

PASSED = [
    "--tensor-parallel-size",
    "2",
    "--pipeline-parallel-size",
    "2",
    "--data-parallel-size",
    "2",
    "--distributed-executor-backend",
    "ray",
    "--max-loras",
    "2",
    "--max-cpu-loras",
    "8",
    "--max-lora-rank",
    "8",
    "--max-model-len",
    "512",
    "--max-num-seqs",
    "8",
    "--gpu-memory-utilization",
    "0.5",
    "--dtype",
    "float32",
    "--enforce-eager",
]


@pytest.fixture(scope="module")
def vllm_args() -> ModuleType:
    from vllm.engine import arg_utils

    return arg_utils


def _vllm_parser():
    from vllm.engine.arg_utils import EngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return EngineArgs.add_cli_args(FlexibleArgumentParser())


def _literal_values(annotation: object) -> set[str]:
    """The strings a `Literal[...]` inside a (union) annotation allows."""
    if typing.get_origin(annotation) is typing.Literal:
        return set(typing.get_args(annotation))
    return set().union(*(_literal_values(arg) for arg in typing.get_args(annotation)))


@pytest.fixture()
def engine_options(monkeypatch: pytest.MonkeyPatch):
    started: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kwargs: started.update(app=application))
    result = CliRunner().invoke(app, ["serve", "--engine", "vllm", *PASSED])
    assert result.exit_code == 0, result.output
    return started["app"].state.settings.engine_options


def test_each_argument_we_pass_is_what_vllms_parser_makes_of_the_same_flags(engine_options, embedded_model, vllm_args):
    from wechat_twin.server.engines.vllm_engine import engine_args

    ours = engine_args(str(embedded_model), engine_options)
    theirs = vars(_vllm_parser().parse_args(["--model", str(embedded_model), "--enable-lora", *PASSED]))
    assert {key: theirs[key] for key in ours} == ours
    assert (ours["pipeline_parallel_size"], ours["data_parallel_size"], ours["max_cpu_loras"]) == (2, 2, 8)
    assert ours["distributed_executor_backend"] == "ray"
    vllm_args.AsyncEngineArgs(**ours)  # and vLLM's own dataclass takes every keyword


def test_our_executor_backends_are_among_vllms(vllm_args):
    fields = {field.name: field for field in vllm_args.EngineArgs.__dataclass_fields__.values()}
    allowed = _literal_values(fields["distributed_executor_backend"].type)
    assert {backend.value for backend in ExecutorBackend} <= allowed


def test_unset_options_leave_vllms_defaults(embedded_model):
    from wechat_twin.server.engines.base import EngineOptions
    from wechat_twin.server.engines.vllm_engine import engine_args

    ours = engine_args(str(embedded_model), EngineOptions())
    assert "max_cpu_loras" not in ours and "distributed_executor_backend" not in ours
    defaults = vars(_vllm_parser().parse_args([]))
    assert (ours["pipeline_parallel_size"], ours["data_parallel_size"]) == (
        defaults["pipeline_parallel_size"],
        defaults["data_parallel_size"],
    )
