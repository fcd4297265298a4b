"""Generation backends behind one interface: in-process vLLM, or transformers + peft."""

from wechat_twin.server.engines.base import (
    AdapterRef,
    ChoiceDelta,
    Engine,
    EngineOptions,
    SamplingOptions,
    collect,
)
from wechat_twin.server.engines.factory import create_engine, engine_names

__all__ = [
    "AdapterRef",
    "ChoiceDelta",
    "Engine",
    "EngineOptions",
    "SamplingOptions",
    "collect",
    "create_engine",
    "engine_names",
]
