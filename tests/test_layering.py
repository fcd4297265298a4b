"""The package's layering, checked in fresh interpreters: what each entry point loads, and that nothing of
ours lands in the top-level namespace other projects use (chatgpt-on-wechat ships a `bridge` package)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "vllm")


def _loaded_after(imports: list[str], cwd: Path, pythonpath: str | None = None) -> list[str]:
    """Module names in sys.modules after importing `imports` in a new interpreter started in `cwd`."""
    code = (
        "import json, sys\n"
        + "".join(f"import {name}\n" for name in imports)
        + "print(json.dumps(sorted(sys.modules)))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def _within(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == r or m.startswith(r + ".") for r in roots)]


def test_the_server_loads_no_training_and_no_bridge(tmp_path):
    modules = _loaded_after(["wechat_twin.server.app", "wechat_twin.server.cli"], tmp_path)
    assert "wechat_twin.server.app" in modules
    assert _within(modules, ("wechat_twin.training", "wechat_twin.bridge")) == []


def test_the_bridge_loads_no_model_library_no_server_and_no_training(tmp_path):
    entry_points = [
        "wechat_twin.bridge.cli",
        "wechat_twin.bridge.service",
        "wechat_twin.bridge.channels.console",
        "wechat_twin.bridge.channels.weixin.channel",
    ]
    modules = _loaded_after(entry_points, tmp_path)
    assert "wechat_twin.bridge.service" in modules
    assert _within(modules, (*HEAVY, "wechat_twin.server", "wechat_twin.training")) == []


def test_the_error_root_loads_nothing_heavy(tmp_path):
    modules = _loaded_after(["wechat_twin.errors", "wechat_twin.commands"], tmp_path)
    assert _within(modules, (*HEAVY, "wechat_twin.server", "wechat_twin.training", "wechat_twin.bridge")) == []


def test_the_memory_store_loads_no_model_library_no_server_and_no_training(tmp_path):
    """Training and the server both use it: it must stay standard library only."""
    modules = _loaded_after(["wechat_twin.memory.recall", "wechat_twin.memory.facts"], tmp_path)
    assert "wechat_twin.memory.store" in modules
    assert _within(modules, (*HEAVY, "wechat_twin.server", "wechat_twin.training", "wechat_twin.bridge")) == []


@pytest.mark.parametrize("name", ["bridge", "server", "training", "feedback", "memory"])
def test_no_generic_top_level_package_is_installed(tmp_path, name):
    result = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0 and f"No module named '{name}'" in result.stderr


def test_another_projects_bridge_package_imports_beside_ours(tmp_path):
    """chatgpt-on-wechat's layout: a top-level `bridge` package with `bridge.context` and `bridge.bridge`."""
    theirs = tmp_path / "cow" / "bridge"
    theirs.mkdir(parents=True)
    (theirs / "__init__.py").write_text("")
    (theirs / "context.py").write_text("class Context:\n    pass\n")
    (theirs / "bridge.py").write_text("from bridge.context import Context\n\nclass Bridge:\n    context = Context\n")
    modules = _loaded_after(
        ["bridge.bridge", "wechat_twin.bridge.cli", "wechat_twin.server.app"],
        tmp_path,
        pythonpath=str(tmp_path / "cow"),
    )
    assert {"bridge.context", "bridge.bridge", "wechat_twin.bridge.cli"} <= set(modules)


def test_the_benches_import_nothing_from_the_tests():
    """`bench/` runs from a checkout on its own; what it shares with the tests lives in `bench/support.py`."""
    import ast

    offenders = []
    for path in sorted((Path(__file__).resolve().parents[1] / "bench").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert offenders == []
