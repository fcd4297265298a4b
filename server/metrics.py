"""Prometheus metrics, one registry per app so tests can run several servers in one process.

The server's own are named `twin_*`; the engine's load is also given under vLLM's names (`protocol_metrics`).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from wechat_twin.server.engines.base import Engine
from wechat_twin.server.protocol_metrics import EngineLoadCollector

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160)


class ServerMetrics:
    def __init__(self, engine: Callable[[], Engine | None], model_name: str) -> None:
        """`engine()` is the engine serving now (it changes when one is restarted); `model_name` the base's served
        name, the `model_name` label of the `vllm:*` gauges."""
        self.registry = CollectorRegistry()
        self.registry.register(EngineLoadCollector(engine, model_name))
        self.requests = Counter(
            "twin_requests", "Requests by route, model and status", ["route", "model", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "twin_request_latency_seconds",
            "End-to-end latency",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ttft = Histogram(
            "twin_time_to_first_token_seconds",
            "Time to first token",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.prompt_tokens = Counter("twin_prompt_tokens", "Prompt tokens in", ["model"], registry=self.registry)
        self.completion_tokens = Counter(
            "twin_completion_tokens", "Completion tokens out", ["model"], registry=self.registry
        )
        self.queue_depth = Gauge("twin_queue_depth", "Requests admitted and not finished", registry=self.registry)
        self.adapter_loads = Counter(
            "twin_adapter_loads",
            "Adapters loaded onto the engine: on first use, by the admin route, or again after an engine restart",
            ["adapter"],
            registry=self.registry,
        )
        self.adapters_servable = Gauge(
            "twin_adapters_servable", "Clones the server can serve, loaded or not", registry=self.registry
        )
        self.adapters_resident = Gauge(
            "twin_adapters_resident",
            "Adapters in the engine's memory now: at most --max-cpu-loras, unless more generate at once",
            registry=self.registry,
        )

        self.connections_refused = Counter(
            "twin_connections_refused",
            "Connections answered and closed: 429 beyond --max-connections-per-client, 503 beyond --max-connections",
            ["status"],
            registry=self.registry,
        )

    def refused_connection(self, status: int) -> None:
        self.connections_refused.labels(str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
