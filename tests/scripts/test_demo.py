"""scripts/demo.sh says where the server really listens (a copy run with stub commands: no training)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.sh"


@pytest.fixture()
def demo_copy(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(DEMO, tmp_path / "scripts" / "demo.sh")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "activate").write_text(f'export PATH="{bin_dir}:$PATH"\n')
    for name in ("twin-train", "twin-server"):
        (bin_dir / name).write_text('#!/bin/sh\necho "$0 $*"\n')
        (bin_dir / name).chmod(0o755)
    return tmp_path / "scripts" / "demo.sh"


@pytest.mark.parametrize(
    ("args", "url"),
    [
        ([], "http://127.0.0.1:8000/v1"),
        (["--port", "8011"], "http://127.0.0.1:8011/v1"),
        (["--port=9000", "--host", "0.0.0.0"], "http://0.0.0.0:9000/v1"),
    ],
)
def test_demo_prints_the_address_it_serves_on(demo_copy, args, url):
    result = subprocess.run(["bash", str(demo_copy), *args], capture_output=True, text=True, check=True)
    assert f"serving on {url} " in result.stdout
    served = result.stdout.strip().splitlines()[-1]
    assert served.endswith(" ".join(["twin-server", "serve", "--adapters", "runs/demo/adapters", *args]))
