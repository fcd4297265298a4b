"""`--engine auto|vllm|transformers`: auto prefers vLLM when it imports."""

from __future__ import annotations

import importlib.util

from wechat_twin.server.engines.base import Engine, EngineOptions


def engine_names() -> list[str]:
    return ["auto", "vllm", "transformers"]


def create_engine(kind: str, model_path: str, options: EngineOptions) -> Engine:
    if kind == "auto":
        kind = "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"
    if kind == "vllm":
        from wechat_twin.server.engines.vllm_engine import VLLMEngine

        return VLLMEngine(model_path, options)
    if kind == "transformers":
        from wechat_twin.server.engines.transformers_engine import TransformersEngine

        return TransformersEngine(model_path, options)
    raise ValueError(f"unknown engine '{kind}': choose one of {', '.join(engine_names())}")
