#!/usr/bin/env bash
# The test command: `ruff check` and `ruff format --check`, then the whole suite on the vLLM engine and its
# `engine` tests (those that use the engine --engine picks, marked from their fixtures: tests/support/tiers.py)
# again on transformers.
# Without vLLM installed, the whole suite runs on the transformers engine instead. TWIN_TRANSFORMERS_VENV=DIR
# (CI sets it) runs the transformers pass in a venv made by `TWIN_ENGINE=transformers VENV=DIR scripts/setup.sh`,
# after checking that vLLM really cannot be imported there. The chat page's browser tests run once, with the vLLM
# pass: the page does not depend on the engine. Every pass prints its 25 slowest tests. Chromium and PostgreSQL
# (for the browser and feedback-store tests) are installed with apt where they are missing.
# Each pass runs on TWIN_TEST_WORKERS (2) pytest-xdist workers, a module at a time (its fixtures start once),
# then its `serial` tests alone: they bound the server's wall-clock time, which another worker's training skews.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
export VLLM_NO_USAGE_STATS=1
# Bytecode is cached even where the environment says not to (some images set PYTHONDONTWRITEBYTECODE): pytest
# caches its assertion rewriting of the test modules and of its plugins' (about 400 modules) the same way, and
# without it every pytest process and every server or trainer the tests start compiles them again.
unset PYTHONDONTWRITEBYTECODE
# glibc gives a freed block above its mmap threshold back to the kernel, and trims the heap's free top, so a
# tensor of tens of MB allocated again at every step (the tiny test model's logits over the 49,152-token
# vocabulary) page-faults in afresh each time: the canary probe's module spent 41 s in the kernel against 42 s
# computing (56 s). With freed memory kept for reuse: 2 s in the kernel, 30 s. A user's own values are kept.
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-4294967296}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-8589934592}
# chatgpt-on-wechat 1.x talks through openai==0.27.8: kept apart from the venv's openai.
[ -f .cache/openai-0.27.8/openai/__init__.py ] || python -m pip install -q --target .cache/openai-0.27.8 openai==0.27.8
# The chat page's browser tests drive the system's Chromium through Playwright (never `playwright install`,
# which downloads a browser). Installed once, where chromium is missing and apt is there.
if [ "$(uname -s)" = Linux ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium (apt) for the chat page's browser tests"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q chromium
fi
# The feedback store's tests run against a real PostgreSQL server that tests/support/postgres.py starts on a
# temporary folder (socket only, no network): Debian's `postgresql` package, installed once where its initdb
# is missing. The package's own system cluster is not used: it is stopped again.
if [ "$(uname -s)" = Linux ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    && command -v apt-get >/dev/null 2>&1; then
    echo "== installing postgresql (apt) for the feedback store's tests"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
    $SUDO service postgresql stop >/dev/null 2>&1 || true
fi

ruff check .
ruff format --check .
PYTEST=(-m pytest -q -p no:cacheprovider --durations=25)
PARALLEL=(-n "${TWIN_TEST_WORKERS:-2}" --dist loadscope)

# run_pass PYTHON ENGINE MARKERS ARGS...: the tests MARKERS selects ("" for all), on the workers, then the serial
# ones alone. A half that selects nothing (pytest's exit code 5) is not a failure: ARGS may name a few tests.
run_pass() {
    local python=$1 engine=$2 only=${3:+($3) and }
    shift 3
    "$python" "${PYTEST[@]}" "${PARALLEL[@]}" --engine "$engine" -m "${only}not serial" "$@" || [ $? -eq 5 ]
    echo "== the serial tests alone ($engine)"
    "$python" "${PYTEST[@]}" --engine "$engine" -m "${only}serial" "$@" || [ $? -eq 5 ]
}

if ! python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('vllm') is None)"; then
    echo "== no vLLM in .venv: the whole suite runs on the transformers engine"
    run_pass python transformers "" "$@"
    exit
fi
run_pass python vllm "" "$@"
# Training, the bench and the bridge exercise the trainer and the bridge, not the engine: their engine use runs
# once, on vLLM. What the bridge asks of the server (choices, memory, sampling) is tests/server's, on both engines.
ENGINE_TESTS=(--ignore=tests/training --ignore=tests/bench --ignore=tests/bridge tests)
TRANSFORMERS_PYTHON=python
if [ -n "${TWIN_TRANSFORMERS_VENV:-}" ]; then
    if "$TWIN_TRANSFORMERS_VENV/bin/python" -c "import vllm" >/dev/null 2>&1; then
        echo "error: $TWIN_TRANSFORMERS_VENV can import vllm, so it does not test a machine without vLLM" >&2
        exit 1
    fi
    echo "== engine tests on the transformers engine in $TWIN_TRANSFORMERS_VENV (no vLLM there)"
    TRANSFORMERS_PYTHON="$TWIN_TRANSFORMERS_VENV/bin/python"
fi
run_pass "$TRANSFORMERS_PYTHON" transformers "engine and not browser" "${ENGINE_TESTS[@]}" "$@"
