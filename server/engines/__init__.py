"""Generation backends behind one interface: in-process vLLM, or transformers + peft."""

from server.engines.base import (
    AdapterRef,
    ChoiceDelta,
    Engine,
    EngineOptions,
    SamplingOptions,
    collect,
)
from server.engines.factory import create_engine, engine_names

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
