"""What a running labeller offers the processes around it (the extender, /plan, probes).

``joulie serve`` answers the scheduler from these, whether the labeller runs
against a live cluster (:mod:`labeller.kube.run`) or a snapshot file
(:class:`labeller.runtime.SnapshotRuntime`).
"""

from __future__ import annotations

import threading
from typing import Protocol

from labeller.feedback import UnmetDemand
from labeller.memory import InMemoryCluster
from labeller.planner import Plan, Planner
from labeller.reconciler import ProfileCache, Reconciler
from joulie.core.selector import LabelSelector
from joulie.core.store import ClusterStore


class LabellerRuntime(Protocol):
    store: ClusterStore
    profiles: ProfileCache
    unmet: UnmetDemand
    selector: LabelSelector

    def latest_plan(self) -> Plan | None:
        """The newest plan (computed by the leader, or locally by a follower)."""

    def request_reconcile(self, reason: str) -> None:
        """Ask for a reconcile soon (debounced); returns immediately."""

    def ready(self) -> tuple[bool, str]:
        """(caches synced and API reachable, why not)."""

    def healthy(self) -> tuple[bool, str]:
        """(the loop is alive, why not)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class SnapshotRuntime:
    """A labeller over a snapshot file: no cluster, writes land in memory.

    Reconcile requests are served synchronously, so ``/plan`` right after a
    filter that found no node already shows the promotion.
    """

    def __init__(self, store: ClusterStore, profiles: ProfileCache, planner: Planner) -> None:
        self.store = store
        self.profiles = profiles
        self.unmet = UnmetDemand()
        self.selector = planner.selector
        self.cluster = InMemoryCluster(store, profiles)
        self.reconciler = Reconciler(store, profiles, planner, self.cluster, self.unmet)
        self._lock = threading.Lock()

    def latest_plan(self) -> Plan | None:
        return self.reconciler.latest_plan

    def request_reconcile(self, reason: str) -> None:
        with self._lock:
            self.reconciler.reconcile(reason)

    def ready(self) -> tuple[bool, str]:
        return True, "snapshot loaded"

    def healthy(self) -> tuple[bool, str]:
        return True, "ok"

    def start(self) -> None:
        self.request_reconcile("startup")

    def stop(self) -> None:
        pass


__all__ = ["LabellerRuntime", "SnapshotRuntime"]
