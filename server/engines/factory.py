"""`--engine auto|vllm|transformers`: auto prefers vLLM when it imports."""

from __future__ import annotations

import importlib.util

from wechat_twin.server.engines.base import Engine, EngineKind, EngineOptions


def engine_names() -> list[str]:
    return [kind.value for kind in EngineKind]


def resolve_engine_kind(kind: EngineKind | str) -> EngineKind:
    """The engine `auto` stands for on this machine; an unknown name is a ValueError naming the choices."""
    try:
        kind = EngineKind(kind)
    except ValueError:
        raise ValueError(f"unknown engine '{kind}': choose one of {', '.join(engine_names())}") from None
    if kind is EngineKind.AUTO:
        return EngineKind.VLLM if importlib.util.find_spec("vllm") is not None else EngineKind.TRANSFORMERS
    return kind


def create_engine(kind: EngineKind | str, model_path: str, options: EngineOptions) -> Engine:
    if resolve_engine_kind(kind) is EngineKind.VLLM:
        from wechat_twin.server.engines.vllm_engine import VLLMEngine

        return VLLMEngine(model_path, options)
    from wechat_twin.server.engines.transformers_engine import TransformersEngine

    return TransformersEngine(model_path, options)
