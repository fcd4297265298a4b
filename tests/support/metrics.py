"""Read a server's /metrics into numbers, so tests can assert by how much a counter moved."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


class MetricsSnapshot:
    """Every sample of one /metrics scrape, looked up by sample name and labels."""

    def __init__(self, text: str) -> None:
        self._values = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    @classmethod
    def scrape(cls, root_url: str) -> MetricsSnapshot:
        response = httpx.get(f"{root_url}/metrics", timeout=10)
        response.raise_for_status()
        return cls(response.text)

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 for a label set never seen (a counter that has not moved yet)."""
        return self._values.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str) -> float:
        """The sum of a sample over all its label sets."""
        return sum(value for (sample, _), value in self._values.items() if sample == name)

    def rise(self, later: MetricsSnapshot, name: str, **labels: str) -> float:
        return later.value(name, **labels) - self.value(name, **labels)


# The gauges inference gateways read, with vLLM's label sets (gateway-api-inference-extension, proposal 003).
GATEWAY_GAUGES = {
    "vllm:num_requests_running": {"model_name", "engine"},
    "vllm:num_requests_waiting": {"model_name", "engine"},
    "vllm:kv_cache_usage_perc": {"model_name", "engine"},
    "vllm:gpu_cache_usage_perc": {"model_name", "engine"},
    "vllm:lora_requests_info": {"max_lora", "running_lora_adapters", "waiting_lora_adapters"},
}


@dataclass(frozen=True)
class GatewayView:
    """The `vllm:*` gauges of one scrape, as a gateway reads them (one engine core)."""

    running: float
    waiting: float
    kv_cache_usage: float
    lora: dict[str, str]
    lora_updated_at: float
    model_name: str


def gateway_view(root_url: str) -> GatewayView:
    """Scrape once and read the gateway's gauges, checking what vLLM guarantees: each name given once, as a gauge,
    with its label set, one sample per engine core (one here) and the newest LoRA sample."""
    response = httpx.get(f"{root_url}/metrics", timeout=10)
    response.raise_for_status()
    families = list(text_string_to_metric_families(response.text))
    names = [family.name for family in families]
    by_name = {family.name: family for family in families}
    values = {}
    for name, labels in GATEWAY_GAUGES.items():
        assert names.count(name) == 1, f"{name} appears {names.count(name)} times"
        family = by_name[name]
        assert family.type == "gauge", (name, family.type)
        assert family.samples, f"{name} has no sample"
        assert all(set(sample.labels) == labels for sample in family.samples), (name, family.samples)
        values[name] = family.samples
    per_engine = {name: samples for name, samples in values.items() if name != "vllm:lora_requests_info"}
    assert all(len(samples) == 1 and samples[0].labels["engine"] == "0" for samples in per_engine.values())
    kv = per_engine["vllm:kv_cache_usage_perc"][0].value
    assert per_engine["vllm:gpu_cache_usage_perc"][0].value == kv
    newest = max(values["vllm:lora_requests_info"], key=lambda sample: sample.value)
    return GatewayView(
        running=per_engine["vllm:num_requests_running"][0].value,
        waiting=per_engine["vllm:num_requests_waiting"][0].value,
        kv_cache_usage=kv,
        lora=dict(newest.labels),
        lora_updated_at=newest.value,
        model_name=per_engine["vllm:num_requests_running"][0].labels["model_name"],
    )
