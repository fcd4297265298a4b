#!/usr/bin/env bash
# The test command: `ruff check` and `ruff format --check`, then the whole suite on the vLLM engine and its
# `engine` tests (those that use the engine --engine picks, marked from their fixtures: tests/support/tiers.py)
# again on transformers.
# Without vLLM installed, the whole suite runs on the transformers engine instead. TWIN_TRANSFORMERS_VENV=DIR
# (CI sets it) runs the transformers pass in a venv made by `TWIN_ENGINE=transformers VENV=DIR scripts/setup.sh`,
# after checking that vLLM really cannot be imported there. The chat page's browser tests run once, with the vLLM
# pass: the page does not depend on the engine. Every pass prints its 25 slowest tests. Chromium and PostgreSQL
# (for the browser and feedback-store tests) are installed with apt where they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
export VLLM_NO_USAGE_STATS=1
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
if ! python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('vllm') is None)"; then
    echo "== no vLLM in .venv: the whole suite runs on the transformers engine"
    python -m pytest -q -p no:cacheprovider --durations=25 --engine transformers "$@"
    exit
fi
python -m pytest -q -p no:cacheprovider --durations=25 --engine vllm "$@"
# Training and the bench exercise the trainer, not the engine: their engine use runs once, on vLLM.
ENGINE_TESTS=(-m "engine and not browser" --ignore=tests/training --ignore=tests/bench tests)
if [ -n "${TWIN_TRANSFORMERS_VENV:-}" ]; then
    if "$TWIN_TRANSFORMERS_VENV/bin/python" -c "import vllm" >/dev/null 2>&1; then
        echo "error: $TWIN_TRANSFORMERS_VENV can import vllm, so it does not test a machine without vLLM" >&2
        exit 1
    fi
    echo "== engine tests on the transformers engine in $TWIN_TRANSFORMERS_VENV (no vLLM there)"
    "$TWIN_TRANSFORMERS_VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=25 --engine transformers \
        "${ENGINE_TESTS[@]}" "$@"
else
    python -m pytest -q -p no:cacheprovider --durations=25 --engine transformers "${ENGINE_TESTS[@]}" "$@"
fi
