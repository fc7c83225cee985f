"""Prometheus metrics of the facility collectors: latency and errors per source, age and freshness at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

SOURCES = ("inletTemp", "deltaP", "powerConsumption", "endpointProvider", "nodeUsage")


class FacilityMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.fetch_seconds = Histogram(
            "joulie_facility_fetch_duration_seconds",
            "Time of one successful or failed fetch, by source "
            "(inletTemp, deltaP, powerConsumption: one curve of 11 predictions, endpointProvider, nodeUsage).",
            ["source"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.fetches = Counter(
            "joulie_facility_fetches_total", "Fetches that produced a value, by source.", ["source"], registry=r
        )
        self.errors = Counter(
            "joulie_facility_fetch_errors_total",
            "Fetches that produced no value, by source and reason "
            "(auth, timeout, unreachable, http, payload, missing-sensor, config).",
            ["source", "reason"],
            registry=r,
        )
        self.predictions = Counter(
            "joulie_facility_predictor_requests_total",
            "V2 inference requests sent (cache misses).",
            registry=r,
        )

    def watch(self, state: Callable[[], Iterator[Metric]]) -> None:
        """Register scrape-time gauges produced by ``state`` (the collector's readings)."""
        self.registry.register(_StateCollector(state))


class _StateCollector(Collector):
    def __init__(self, state: Callable[[], Iterator[Metric]]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        yield from self._state()


def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=labels)
