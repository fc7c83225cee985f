"""One reconcile: plan, compare with what the cluster shows, write only the differences.

:meth:`Reconciler.compute_plan` is a query: it reads the :class:`ClusterStore` (fed by
watches) and the observed NodePowerProfiles and returns a plan, changing nothing, so
``joulie plan``, followers and ``/plan`` may call it freely. :meth:`Reconciler.reconcile`
adds the side effects: :func:`labeller.diff.diff` turns the plan into actions, the
:class:`labeller.executor.Executor` performs them through a
:class:`labeller.writes.StateWriter` (the Kubernetes adapter, or an in-memory cluster),
and the plan becomes the latest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from joulie.core.plan import Plan
from joulie.core.store import ClusterSnapshot, ClusterStore
from labeller.budgets.controller import BudgetInputs, BudgetOutcome, NodeFacts, enforce
from labeller.budgets.source import BudgetSource
from labeller.diff import Actions, PolicyEventAction, diff, policy_writes
from labeller.executor import Executor, ReconcileResult
from labeller.metrics import LabellerMetrics
from labeller.planner import Planner
from labeller.profiles import ObservedProfile, ProfileCache
from labeller.writes import StateWriter

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(
        self,
        store: ClusterStore,
        profiles: ProfileCache,
        planner: Planner,
        writer: StateWriter,
        *,
        metrics: LabellerMetrics | None = None,
        clock: Callable[[], float] = time.time,
        dry_run: bool = False,
        budgets: BudgetSource | None = None,
    ) -> None:
        self.budgets = budgets
        self.store = store
        self.profiles = profiles
        self.planner = planner
        self.metrics = metrics if metrics is not None else LabellerMetrics()
        self.executor = Executor(store, profiles, writer, self.metrics)
        self.clock = clock
        self.dry_run = dry_run
        self._plan: Plan | None = None
        self._lock = threading.Lock()

    @property
    def latest_plan(self) -> Plan | None:
        return self._plan

    def compute_plan(self, now: float | None = None) -> Plan:
        """The plan for the cluster as the caches show it now; changes nothing."""
        plan, _ = self._plan_and_actions(self.clock() if now is None else now, with_actions=False)
        return plan

    def _plan_and_actions(self, now: float, with_actions: bool) -> tuple[Plan, Actions | None]:
        snapshot = self.store.snapshot()
        observed = self.profiles.items()
        since = {o.node_name: o.since for o in observed if o.node_name and o.since is not None}
        holds = {o.node_name: o.hold for o in observed if o.node_name and o.hold is not None}
        plan = self.planner.plan(snapshot, now, previous=self._plan, since=since, holds=holds)
        outcome = self._enforce_budgets(plan, snapshot, observed, now)
        if outcome is not None:
            plan = outcome.plan
        if not with_actions:
            return plan, None
        actions = diff(plan, self._plan, snapshot.nodes, {o.name: o for o in observed})
        if outcome is not None:
            assert self.budgets is not None
            seen = {v.name: v.status.to_api() if v.status else None for v in self.budgets.policies()}
            statuses = {name: status.to_api() for name, status in outcome.statuses.items()}
            events = tuple(PolicyEventAction(e.policy, e.reason, e.message, e.type) for e in outcome.events)
            actions = replace(actions, policies=policy_writes(statuses, seen), policy_events=events)
        return plan, actions

    def _enforce_budgets(
        self, plan: Plan, snapshot: ClusterSnapshot, observed: list[ObservedProfile], now: float
    ) -> BudgetOutcome | None:
        """The plan under the PowerCappingPolicies (``None`` when there are none)."""
        if self.budgets is None:
            return None
        views = self.budgets.policies()
        if not views:
            return None
        facts = {o.node_name: NodeFacts(o.power, o.cpu_cap_watts, o.gpu_cap_watts) for o in observed if o.node_name}
        inputs = BudgetInputs(
            views,
            snapshot.nodes,
            facts,
            self.planner.selector,
            self.budgets.inlet_temperature,
            self.budgets.performance(now),
        )
        return enforce(plan, inputs, now)

    def reconcile(self, reason: str = "tick") -> ReconcileResult:
        with self._lock:
            started = time.perf_counter()
            plan, actions = self._plan_and_actions(self.clock(), with_actions=not self.dry_run)
            result = ReconcileResult(plan)
            if actions is not None:
                self.executor.execute(actions, result)
            self._plan = plan
            self.metrics.observe_plan(plan, time.perf_counter() - started, reason.split(":", 1)[0])
            if plan.unmet_pods:
                self.metrics.unmet.inc(plan.unmet_pods)
            if result.write_count or result.errors:
                log.info(
                    "reconciled",
                    extra={
                        "trigger": reason,
                        "writes": result.writes,
                        "errors": len(result.errors),
                        "performance": plan.performance_count,
                        "nodes": len(plan.nodes),
                    },
                )
            return result
