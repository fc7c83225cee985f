"""Prometheus metrics of the extender (``/metrics`` also exposes the labeller's)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUEST_SECONDS = Histogram(
    "joulie_extender_request_duration_seconds",
    "Server-side time to answer one extender request, by verb.",
    ["verb"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
REQUESTS = Counter(
    "joulie_extender_requests_total", "Extender requests by verb and HTTP status.", ["verb", "code"]
)
DECISIONS = Counter(
    "joulie_extender_decisions_total",
    "Filter decisions per node, by pod demand class and outcome "
    "(passed, unmanaged, rejected-eco, rejected-draining, rejected-performance).",
    ["demand", "decision"],
)
UNMET_REPORTS = Counter(
    "joulie_extender_unmet_reports_total",
    "Performance pods the filter left with no node, reported to the labeller (one per pod per cooldown).",
)
ASSUMED = Counter("joulie_extender_assumed_pods_total", "Pods remembered on their best-scored node after prioritize.")
