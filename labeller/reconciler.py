"""One reconcile: plan, compare with what the cluster shows, write only the differences.

The reconciler owns no I/O of its own: it reads the :class:`ClusterStore` (fed by
watches), the observed NodePowerProfiles (also fed by a watch) and writes through
a :class:`StateWriter`, which the Kubernetes adapter implements with real API calls
and tests implement in memory. A failed write is logged, counted and retried on
the next pass; it never aborts the other nodes' writes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Protocol

from joulie.api.labels import DRAINING_LABEL, POWER_PROFILE_LABEL
from joulie.api.v1alpha1 import NodePowerProfile, npp_name
from labeller import metrics
from labeller.desired import SINCE_ANNOTATION, desired_npp, labels_patch, parse_since, spec_differs
from labeller.feedback import UnmetDemand, next_floor
from joulie.core.guard import NodeState
from joulie.core.plan import Eligibility, PerformanceFloor, Plan, eligibility
from labeller.planner import Planner
from joulie.core.store import ClusterSnapshot, ClusterStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ObservedProfile:
    """A NodePowerProfile as last seen on the API server."""

    name: str
    node_name: str | None
    spec: Mapping[str, Any] | None
    annotations: Mapping[str, str]
    since: float | None = None
    """When the node entered its current profile (the profile-since annotation)."""

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> "ObservedProfile":
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else None
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        return cls(
            name=str(meta.get("name", "")),
            node_name=spec.get("nodeName") if spec else None,
            spec=spec,
            annotations=annotations,
            since=parse_since(annotations.get(SINCE_ANNOTATION)),
        )


class WriteError(Exception):
    """A write the API refused or could not take; the message says which and why."""


class StateWriter(Protocol):
    """Writes to the cluster. Writes return the object the server stored (or ``None``),
    which the reconciler feeds back into its caches so that it does not rewrite the
    same change before the watch catches up."""

    def patch_node_labels(self, node: str, labels: Mapping[str, str | None]) -> Mapping[str, Any] | None: ...

    def apply_profile(self, profile: NodePowerProfile) -> Mapping[str, Any] | None: ...

    def delete_profile(self, name: str) -> None: ...

    def emit_event(self, node: str, reason: str, message: str, type_: str = "Normal") -> None: ...


class ProfileCache:
    """Observed NodePowerProfiles, keyed by object name; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, ObservedProfile] = {}
        self.version = 0

    def upsert(self, obj: Mapping[str, Any]) -> None:
        observed = ObservedProfile.from_api(obj)
        with self._lock:
            self._items[observed.name] = observed
            self.version += 1

    def put(self, observed: ObservedProfile) -> None:
        with self._lock:
            self._items[observed.name] = observed
            self.version += 1

    def delete(self, name: str) -> None:
        with self._lock:
            if self._items.pop(name, None) is not None:
                self.version += 1

    def replace(self, objs: list[Mapping[str, Any]]) -> None:
        fresh = {o.name: o for o in map(ObservedProfile.from_api, objs)}
        with self._lock:
            self._items = fresh
            self.version += 1

    def get(self, name: str) -> ObservedProfile | None:
        return self._items.get(name)

    def items(self) -> list[ObservedProfile]:
        with self._lock:
            return list(self._items.values())


@dataclass
class ReconcileResult:
    plan: Plan
    writes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    transitions: list[tuple[str, str | None, str]] = field(default_factory=list)

    @property
    def write_count(self) -> int:
        return sum(self.writes.values())


class Reconciler:
    def __init__(
        self,
        store: ClusterStore,
        profiles: ProfileCache,
        planner: Planner,
        writer: StateWriter,
        unmet: UnmetDemand | None = None,
        clock: Callable[[], float] = time.time,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.profiles = profiles
        self.planner = planner
        self.writer = writer
        self.unmet = unmet or UnmetDemand()
        self.clock = clock
        self.dry_run = dry_run
        self._plan: Plan | None = None
        self._floor: PerformanceFloor | None = None
        self._lock = threading.Lock()

    @property
    def latest_plan(self) -> Plan | None:
        return self._plan

    def compute_plan(self, now: float | None = None) -> Plan:
        """Plan without writing (``joulie plan``, ``/plan`` on a follower, dry runs)."""
        now = self.clock() if now is None else now
        since = {o.node_name: o.since for o in self.profiles.items() if o.node_name and o.since is not None}
        previous = self._plan
        snapshot = self.store.snapshot()
        for pod in self.store.unschedulable_performance():
            self.unmet.report(pod.uid, pod.key, "scheduler", now, pod.cpu_request_millis)
        reports = [r for r in self.unmet.take(now) if self._fits_an_eco_node(r.cpu_millis, snapshot, previous)]
        performance_now = previous.performance_count if previous else sum(
            1 for n in snapshot.nodes.values() if n.profile_label == "performance"
        )
        self._floor = next_floor(
            self._floor,
            performance_now,
            reports,
            now,
            self.planner.config.feedback_pods_per_node,
            self.planner.config.feedback_hold_seconds,
        )
        if reports:
            metrics.UNMET_REPORTS.inc(len(reports))
        return self.planner.plan(snapshot, now, previous=previous, since=since, floor=self._floor)

    def _fits_an_eco_node(self, cpu_millis: int, snapshot: ClusterSnapshot, previous: Plan | None) -> bool:
        """Would promoting some eco node give this pod room? If not, promotion cannot help it."""
        planned = previous.by_name() if previous else {}
        for name, node in snapshot.nodes.items():
            decision = planned.get(name)
            profile = decision.profile if decision else node.profile_label
            if profile == "performance" or eligibility(node, self.planner.selector) is not Eligibility.ELIGIBLE:
                continue
            free = node.cpu_allocatable_millis - snapshot.cpu_requested_millis.get(name, 0)
            if node.cpu_allocatable_millis == 0 or free >= cpu_millis:
                return True
        return False

    def reconcile(self, reason: str = "tick") -> ReconcileResult:
        with self._lock:
            started = time.perf_counter()
            plan = self.compute_plan()
            result = ReconcileResult(plan)
            previous = self._plan
            self._plan = plan
            if not self.dry_run:
                self._write(plan, previous, result)
            metrics.observe_plan(plan, time.perf_counter() - started, reason.split(":", 1)[0])
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

    # ------------------------------------------------------------ writes

    def _count(self, result: ReconcileResult, kind: str, ok: bool, err: str = "") -> None:
        metrics.WRITES.labels(kind=kind, result="ok" if ok else "error").inc()
        if ok:
            result.writes[kind] = result.writes.get(kind, 0) + 1
        else:
            metrics.ERRORS.labels(stage=kind).inc()
            result.errors.append(err)

    def _write(self, plan: Plan, previous: Plan | None, result: ReconcileResult) -> None:
        prev = previous.by_name() if previous else {}
        for decision in plan.nodes:
            node = self.store.node(decision.name)
            if node is None:
                continue
            was = prev[decision.name].state if decision.name in prev else NodeState.from_labels(
                node.profile_label, node.draining_label
            )
            observed = self.profiles.get(npp_name(decision.name))
            hand_edited = (
                observed is not None
                and observed.spec is not None
                and previous is not None
                and decision.name in prev
                and prev[decision.name].state is decision.state
                and spec_differs(observed.spec, decision, plan.policy)
            )
            # NodePowerProfile first: the agent should cap before the scheduler sees eco supply.
            if observed is None or spec_differs(observed.spec, decision, plan.policy) or (
                decision.since is not None and observed.since is None
            ):
                desired = desired_npp(decision, plan.policy)
                try:
                    stored = self.writer.apply_profile(desired)
                    self.profiles.upsert(stored if stored else desired.to_api())
                    self._count(result, "nodepowerprofile", True)
                except WriteError as exc:
                    self._count(result, "nodepowerprofile", False, f"{decision.name}: {exc}")
                    continue
                if hand_edited:
                    self._event(
                        decision.name,
                        "ProfileReverted",
                        f"NodePowerProfile {npp_name(decision.name)} was edited by hand; "
                        f"restored to {decision.profile} ({plan.policy})",
                        "Warning",
                    )
            patch = labels_patch(node.labels, decision)
            if patch:
                try:
                    stored = self.writer.patch_node_labels(decision.name, patch)
                    self._remember_labels(node.name, patch, stored)
                    self._count(result, "labels", True)
                except WriteError as exc:
                    self._count(result, "labels", False, f"{decision.name}: {exc}")
                    continue
            if was is not decision.state:
                result.transitions.append((decision.name, was.value if was else None, decision.state.value))
                self._event(
                    decision.name,
                    f"PowerProfile{decision.state.value}",
                    f"{was.value if was else 'Unmanaged'} -> {decision.state.value}: {decision.reason}",
                )
        self._collect_garbage(plan, result)

    def _collect_garbage(self, plan: Plan, result: ReconcileResult) -> None:
        """Remove profiles (and our labels) of nodes that left management or the cluster.

        Cordoned nodes are skipped, not collected: maintenance should not uncap a node.
        """
        keep = {npp_name(d.name) for d in plan.nodes}
        keep |= {npp_name(name) for name, verdict in plan.skipped.items() if verdict.keeps_profile}
        for observed in self.profiles.items():
            if observed.name in keep:
                continue
            try:
                self.writer.delete_profile(observed.name)
                self.profiles.delete(observed.name)
                self._count(result, "nodepowerprofile-delete", True)
            except WriteError as exc:
                self._count(result, "nodepowerprofile-delete", False, f"{observed.name}: {exc}")
                continue
            node_name = observed.node_name
            node = self.store.node(node_name) if node_name else None
            if node is None:
                continue
            if node_name not in plan.skipped:  # left the selector: our labels would mislead the scheduler
                stale = {k: None for k in (POWER_PROFILE_LABEL, DRAINING_LABEL) if k in node.labels}
                if stale:
                    try:
                        stored = self.writer.patch_node_labels(node.name, stale)
                        self._remember_labels(node.name, stale, stored)
                        self._count(result, "labels", True)
                    except WriteError as exc:
                        self._count(result, "labels", False, f"{node.name}: {exc}")
            self._event(node.name, "PowerProfileReleased", "node left Joulie management; profile removed")

    def _remember_labels(
        self, name: str, patch: Mapping[str, str | None], stored: Mapping[str, Any] | None
    ) -> None:
        if stored:
            self.store.upsert_node(stored)
            return
        node = self.store.node(name)
        if node is not None:
            labels = {k: v for k, v in {**node.labels, **patch}.items() if v is not None}
            self.store.put_node(replace(node, labels=labels))

    def _event(self, node: str, reason: str, message: str, type_: str = "Normal") -> None:
        try:
            self.writer.emit_event(node, reason, message, type_)
        except WriteError as exc:  # events are best effort
            log.warning("could not emit event for %s: %s", node, exc)
