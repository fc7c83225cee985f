"""What a running labeller offers the processes around it (the extender, ``/plan``, probes).

``joulie serve`` answers the scheduler from these, whether the labeller runs against a
live cluster (:class:`labeller.kube.run.KubeRuntime`) or a snapshot file
(:class:`SnapshotRuntime`).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Protocol

from joulie.core.model import PodInfo
from joulie.core.plan import Plan
from joulie.core.selector import LabelSelector
from joulie.core.store import ClusterStore
from labeller.budgets.source import CachedBudgetSource, PolicyCache
from labeller.memory import InMemoryCluster
from labeller.metrics import LabellerMetrics
from labeller.planner import Planner
from labeller.profiles import ProfileCache
from labeller.reconciler import Reconciler


class LabellerRuntime(Protocol):
    store: ClusterStore
    profiles: ProfileCache
    selector: LabelSelector

    def latest_plan(self) -> Plan | None:
        """The newest plan (computed by the leader, or locally by a follower)."""

    def request_reconcile(self, reason: str) -> None:
        """Ask for a reconcile soon (debounced); returns immediately."""

    def unplaceable(self, pod: PodInfo) -> None:
        """The extender's filter left no node for this pending performance pod."""

    def ready(self) -> tuple[bool, str]:
        """(caches synced and API reachable, why not)."""

    def healthy(self) -> tuple[bool, str]:
        """(the loop is alive, why not)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class SnapshotRuntime:
    """A labeller over a snapshot file: no cluster, writes land in memory.

    The runtime plays the API server and the scheduler's bookkeeping: a pending pod the
    extender found no node for is marked ``Unschedulable``, as kube-scheduler would mark it.
    Reconcile requests are served synchronously, so ``/plan`` right after such a filter
    already shows the promotion.
    """

    def __init__(
        self,
        store: ClusterStore,
        profiles: ProfileCache,
        planner: Planner,
        metrics: LabellerMetrics | None = None,
        policies: PolicyCache | None = None,
    ) -> None:
        self.store = store
        self.profiles = profiles
        self.selector = planner.selector
        self.policies = policies if policies is not None else PolicyCache()
        self.cluster = InMemoryCluster(store, profiles, policies=self.policies)
        self.reconciler = Reconciler(
            store, profiles, planner, self.cluster, metrics=metrics, budgets=CachedBudgetSource(self.policies)
        )
        self._lock = threading.Lock()

    def latest_plan(self) -> Plan | None:
        return self.reconciler.latest_plan

    def request_reconcile(self, reason: str) -> None:
        with self._lock:
            self.reconciler.reconcile(reason)

    def unplaceable(self, pod: PodInfo) -> None:
        if not pod.unschedulable:
            self.store.put_pod(replace(pod, unschedulable=True))
        self.request_reconcile(f"extender: performance pod {pod.key} found no performance node")

    def ready(self) -> tuple[bool, str]:
        return True, "snapshot loaded"

    def healthy(self) -> tuple[bool, str]:
        return True, "ok"

    def start(self) -> None:
        self.request_reconcile("startup")

    def stop(self) -> None:
        pass


__all__ = ["LabellerRuntime", "SnapshotRuntime"]
