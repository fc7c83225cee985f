"""Prometheus metrics of the labeller, in a registry the process wiring chooses.

One :class:`LabellerMetrics` per runtime: ``joulie serve`` registers it (beside the
extender's) in the registry its ``/metrics`` renders; the simulator gives each run a
private registry, so simulated reconciles never move a real counter.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from joulie.core.guard import NodeState
from joulie.core.plan import Plan


class LabellerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.reconcile_seconds = Histogram(
            "joulie_reconcile_duration_seconds",
            "Time to plan and write one reconcile.",
            ["trigger"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.nodes = Gauge("joulie_nodes", "Managed nodes per state in the latest plan.", ["state"], registry=r)
        self.demand = Gauge("joulie_demand_pods", "Active pods per demand class.", ["class"], registry=r)
        self.target = Gauge(
            "joulie_target_performance_nodes", "Performance nodes the policy (and feedback) asks for.", registry=r
        )
        self.writes = Counter("joulie_writes_total", "API writes by kind and result.", ["kind", "result"], registry=r)
        self.errors = Counter("joulie_errors_total", "Errors by stage.", ["stage"], registry=r)
        self.unmet = Counter(
            "joulie_unmet_performance_pods_total",
            "Performance pods with no node that a promotion was made for.",
            registry=r,
        )
        self.triggers = Counter(
            "joulie_reconcile_triggers_total", "Reconcile requests by trigger.", ["trigger"], registry=r
        )

    def observe_plan(self, plan: Plan, seconds: float, trigger: str) -> None:
        self.reconcile_seconds.labels(trigger=trigger).observe(seconds)
        for state in NodeState:
            self.nodes.labels(state=state.value).set(plan.count(state))
        self.demand.labels(**{"class": "performance"}).set(plan.demand.performance)
        self.demand.labels(**{"class": "eco"}).set(plan.demand.eco)
        self.demand.labels(**{"class": "general"}).set(plan.demand.general)
        self.target.set(plan.target_performance)

    def count_error(self, stage: str) -> None:
        self.errors.labels(stage=stage).inc()

    def count_write(self, kind: str, ok: bool) -> None:
        self.writes.labels(kind=kind, result="ok" if ok else "error").inc()
        if not ok:
            self.count_error(kind)

    def count_trigger(self, reason: str) -> None:
        self.triggers.labels(trigger=reason.split(":", 1)[0]).inc()
