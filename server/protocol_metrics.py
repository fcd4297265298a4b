"""The engine's load under vLLM's metric names: the model-server protocol that inference gateways scrape.

The Gateway API Inference Extension's endpoint picker, vLLM production-stack's router, AIBrix and KServe route
by the gauges every vLLM replica exposes (kubernetes-sigs/gateway-api-inference-extension,
docs/proposals/003-model-server-protocol). The server exposes them with vLLM's names, types and labels, read
from the engine at each scrape (`Engine.load`), beside its own `twin_*` metrics:

- `vllm:num_requests_running`, `vllm:num_requests_waiting`: gauges, labels `model_name` (the served base
  model) and `engine` (the engine core's index);
- `vllm:kv_cache_usage_perc`: gauge, 0..1 despite its name, as vLLM's; `vllm:gpu_cache_usage_perc` is its older
  name, which older gateway releases scrape;
- `vllm:lora_requests_info`: gauge whose value is when its labels were last true (Unix time, so the gateway
  takes the newest), labels `max_lora`, `running_lora_adapters` and `waiting_lora_adapters` (comma-separated
  adapter names). vLLM keeps a sample for every label set it ever saw; here there is one, the current.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from wechat_twin.server.engines.base import Engine, EngineLoad

_ENGINE_LABELS = ["model_name", "engine"]
_LORA_LABELS = ["max_lora", "waiting_lora_adapters", "running_lora_adapters"]
_PER_ENGINE = {
    "vllm:num_requests_running": ("Number of requests in model execution batches.", lambda load: load.running),
    "vllm:num_requests_waiting": ("Number of requests waiting to be processed.", lambda load: load.waiting),
    "vllm:kv_cache_usage_perc": ("KV-cache usage. 1 means 100 percent usage.", lambda load: load.kv_cache_usage),
    "vllm:gpu_cache_usage_perc": (
        "KV-cache usage, under its older name. 1 means 100 percent usage.",
        lambda load: load.kv_cache_usage,
    ),
}
_LORA = ("vllm:lora_requests_info", "Running stats on lora requests.")


class EngineLoadCollector(Collector):
    """Reads the engine serving now (`engine()`, None before the first has started) at every scrape."""

    def __init__(self, engine: Callable[[], Engine | None], model_name: str) -> None:
        self._engine = engine
        self._model_name = model_name

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names, so that the registry refuses a second collector of any of them."""
        for name, (documentation, _) in _PER_ENGINE.items():
            yield GaugeMetricFamily(name, documentation, labels=_ENGINE_LABELS)
        yield GaugeMetricFamily(*_LORA, labels=_LORA_LABELS)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        engine = self._engine()
        loads = engine.load() if engine is not None else {}
        for name, (documentation, value) in _PER_ENGINE.items():
            family = GaugeMetricFamily(name, documentation, labels=_ENGINE_LABELS)
            for index, load in sorted(loads.items()):
                family.add_metric([self._model_name, str(index)], value(load))
            yield family
        lora = GaugeMetricFamily(*_LORA, labels=_LORA_LABELS)
        if loads:
            lora.add_metric(*_lora_sample(list(loads.values())))
        yield lora


def _lora_sample(loads: list[EngineLoad]) -> tuple[list[str], float]:
    """One sample for all engine cores: the adapters any of them runs or queues, as of the newest report."""
    running = dict.fromkeys(name for load in loads for name in load.running_adapters)
    waiting = dict.fromkeys(name for load in loads for name in load.waiting_adapters)
    labels = [str(max(load.max_loras for load in loads)), ",".join(waiting), ",".join(running)]
    return labels, max(load.updated_at for load in loads)
