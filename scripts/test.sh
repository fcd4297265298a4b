#!/usr/bin/env bash
# The test command: lint, the whole suite on the vLLM engine, then the server suite on transformers
# (less the chat page's browser tests: the page does not depend on the engine, once is enough).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
export VLLM_NO_USAGE_STATS=1
# chatgpt-on-wechat 1.x talks through openai==0.27.8: kept apart from the venv's openai.
[ -f .cache/openai-0.27.8/openai/__init__.py ] || python -m pip install -q --target .cache/openai-0.27.8 openai==0.27.8
ruff check .
python -m pytest -q -p no:cacheprovider --engine vllm "$@"
python -m pytest -q -p no:cacheprovider --engine transformers tests/server --ignore=tests/server/web "$@"
