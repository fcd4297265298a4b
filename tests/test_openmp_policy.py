"""The tests' OpenMP threads sleep when idle (tests/conftest.py): the setting has to be in place before
torch's OpenMP runtime loads, which reads it once, and it has to reach the processes the tests start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_conftest_sets_the_policy_before_anything_it_imports_loads_torch():
    probe = (
        "import os, sys\n"
        "os.environ.pop('OMP_WAIT_POLICY', None)\n"
        "import tests.conftest\n"
        "assert 'torch' not in sys.modules, 'a conftest import loads torch before OMP_WAIT_POLICY is set'\n"
        "print(os.environ['OMP_WAIT_POLICY'])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "PASSIVE"


def test_a_process_the_tests_start_inherits_it():
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('OMP_WAIT_POLICY'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert os.environ.get("OMP_WAIT_POLICY"), "conftest sets it unless the user did"
    assert done.stdout.strip() == os.environ["OMP_WAIT_POLICY"]
