"""Prometheus metrics of the labeller (served on ``/metrics`` by ``joulie serve``/``labeller``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

from joulie.core.guard import NodeState

if TYPE_CHECKING:
    from joulie.core.plan import Plan

RECONCILE_SECONDS = Histogram(
    "joulie_reconcile_duration_seconds",
    "Time to plan and write one reconcile.",
    ["trigger"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
NODES = Gauge("joulie_nodes", "Managed nodes per state in the latest plan.", ["state"])
DEMAND = Gauge("joulie_demand_pods", "Active pods per demand class.", ["class"])
TARGET = Gauge("joulie_target_performance_nodes", "Performance nodes the policy (and feedback) asks for.")
WRITES = Counter("joulie_writes_total", "API writes by kind and result.", ["kind", "result"])
ERRORS = Counter("joulie_errors_total", "Errors by stage.", ["stage"])
UNMET_REPORTS = Counter("joulie_unmet_performance_pods_total", "Performance pods reported with no node to go to.")
TRIGGERS = Counter("joulie_reconcile_triggers_total", "Reconcile requests by trigger.", ["trigger"])


def observe_plan(plan: "Plan", seconds: float, trigger: str) -> None:
    RECONCILE_SECONDS.labels(trigger=trigger).observe(seconds)
    for state in NodeState:
        NODES.labels(state=state.value).set(plan.count(state))
    DEMAND.labels(**{"class": "performance"}).set(plan.demand.performance)
    DEMAND.labels(**{"class": "eco"}).set(plan.demand.eco)
    DEMAND.labels(**{"class": "general"}).set(plan.demand.general)
    TARGET.set(plan.target_performance)
