"""Prometheus metrics of the extender, in the registry ``joulie serve`` renders on ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ExtenderMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.request_seconds = Histogram(
            "joulie_extender_request_duration_seconds",
            "Server-side time to answer one extender request, by verb.",
            ["verb"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
            registry=r,
        )
        self.requests = Counter(
            "joulie_extender_requests_total", "Extender requests by verb and HTTP status.", ["verb", "code"], registry=r
        )
        self.decisions = Counter(
            "joulie_extender_decisions_total",
            "Filter decisions per node, by pod demand class and outcome "
            "(passed, unmanaged, rejected-eco, rejected-draining, rejected-performance, rejected-power).",
            ["demand", "decision"],
            registry=r,
        )
        self.unmet_reports = Counter(
            "joulie_extender_unmet_reports_total",
            "Pending performance pods the filter left with no node (the labeller was asked to reconcile).",
            registry=r,
        )
        self.assumed = Counter(
            "joulie_extender_assumed_pods_total",
            "Pods remembered on their best-scored node after prioritize.",
            registry=r,
        )
