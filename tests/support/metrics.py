"""Read a server's /metrics into numbers, so tests can assert by how much a counter moved."""

from __future__ import annotations

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
