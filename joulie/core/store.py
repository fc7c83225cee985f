"""The in-memory cluster view every decision reads: nodes, pods and their aggregates.

Watches (or a snapshot file, or the simulator) feed raw objects in; each is reduced
once to a compact record and the aggregates the planner and the extender need
(demand per class, performance pods and requested CPU per node) are updated
incrementally. Planning then costs O(nodes), not O(pods), which is what keeps a
5000-node / 150k-pod plan well under the 200 ms budget.

All methods are thread-safe: watch threads write while the reconciler and the
extender's request handlers read.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from joulie.api.labels import ECO, GENERAL, PERFORMANCE
from joulie.core.model import DemandSummary, NodeInfo, PodInfo

log = logging.getLogger(__name__)


ARRIVAL_BIN_SECONDS = 10
"""Width of the creation-time bins of :attr:`ClusterSnapshot.performance_arrivals`."""
ARRIVAL_HISTORY_SECONDS = 3600
"""How far back from the newest performance pod the snapshot keeps arrival bins."""


@dataclass(frozen=True, slots=True)
class ArrivalBin:
    """Active performance pods created within one bin of :data:`ARRIVAL_BIN_SECONDS`."""

    pods: int
    cpu_millis: int
    """CPU requested by the pods that request no GPU."""
    gpus: int
    largest_cpu_millis: int
    """Largest CPU request of a pod without GPUs seen in the bin since it was last empty."""
    largest_gpus: int


@dataclass(slots=True)
class _Bin:
    pods: int = 0
    cpu_millis: int = 0
    gpus: int = 0
    largest_cpu_millis: int = 0
    largest_gpus: int = 0

    def frozen(self) -> ArrivalBin:
        return ArrivalBin(self.pods, self.cpu_millis, self.gpus, self.largest_cpu_millis, self.largest_gpus)


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """A consistent, immutable copy of what the planner needs at one instant."""

    nodes: Mapping[str, NodeInfo]
    demand: DemandSummary
    performance_pods: Mapping[str, int]
    """Active performance pods bound to each node."""
    cpu_requested_millis: Mapping[str, int]
    """CPU requested by active pods bound to each node."""
    memory_requested_bytes: Mapping[str, int]
    """Memory requested by active pods bound to each node."""
    gpus_requested: Mapping[str, int]
    """GPUs requested by active pods bound to each node."""
    pending_performance: Mapping[str, PodInfo]
    """Active performance pods not bound to a node yet, by UID (the queue feedback reads)."""
    resource_version: int
    """Bumps on every change: equal versions mean nothing changed."""
    cpu_starting_millis: Mapping[str, int] = field(default_factory=dict)
    """CPU requested by active pods bound to each node but not Running yet (part of ``cpu_requested_millis``)."""
    performance_arrivals: Mapping[int, ArrivalBin] = field(default_factory=dict)
    """Active performance pods by creation time: bin ``i`` covers ``[i, i + 1) * ARRIVAL_BIN_SECONDS``
    unix seconds; the last :data:`ARRIVAL_HISTORY_SECONDS` before the newest pod."""


class ClusterStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, PodInfo] = {}
        self._demand: Counter[str] = Counter()
        self._perf_pending = 0
        self._perf_by_node: Counter[str] = Counter()
        self._cpu_by_node: Counter[str] = Counter()
        self._mem_by_node: Counter[str] = Counter()
        self._gpu_by_node: Counter[str] = Counter()
        self._starting_by_node: Counter[str] = Counter()
        self._pending_perf: dict[str, PodInfo] = {}
        self._arrivals: dict[int, _Bin] = {}
        self._version = 0

    # ------------------------------------------------------------ reading

    @property
    def version(self) -> int:
        return self._version

    def node(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    def pod(self, uid: str) -> PodInfo | None:
        return self._pods.get(uid)

    def pods(self) -> list[PodInfo]:
        with self._lock:
            return list(self._pods.values())

    def performance_pods_on(self, node: str) -> int:
        return self._perf_by_node.get(node, 0)

    def cpu_requested_on(self, node: str) -> int:
        return self._cpu_by_node.get(node, 0)

    def cpu_starting_on(self, node: str) -> int:
        """CPU of pods bound to ``node`` that are not Running yet (their usage is not measured yet)."""
        return self._starting_by_node.get(node, 0)

    def __len__(self) -> int:
        return len(self._nodes)

    def snapshot(self) -> ClusterSnapshot:
        with self._lock:
            return ClusterSnapshot(
                nodes=dict(self._nodes),
                demand=DemandSummary(
                    performance=self._demand[PERFORMANCE],
                    eco=self._demand[ECO],
                    general=self._demand[GENERAL],
                    performance_pending=self._perf_pending,
                ),
                performance_pods={k: v for k, v in self._perf_by_node.items() if v > 0},
                cpu_requested_millis={k: v for k, v in self._cpu_by_node.items() if v > 0},
                memory_requested_bytes={k: v for k, v in self._mem_by_node.items() if v > 0},
                gpus_requested={k: v for k, v in self._gpu_by_node.items() if v > 0},
                pending_performance=dict(self._pending_perf),
                resource_version=self._version,
                cpu_starting_millis={k: v for k, v in self._starting_by_node.items() if v > 0},
                performance_arrivals=self._recent_arrivals(),
            )

    def _recent_arrivals(self) -> dict[int, ArrivalBin]:
        if not self._arrivals:
            return {}
        oldest = max(self._arrivals) - ARRIVAL_HISTORY_SECONDS // ARRIVAL_BIN_SECONDS
        return {k: b.frozen() for k, b in self._arrivals.items() if k >= oldest}

    # ------------------------------------------------------------ writing

    def upsert_node(self, obj: Mapping[str, Any]) -> NodeInfo | None:
        """Add or replace a node from its API object; malformed objects are logged and skipped."""
        try:
            node = NodeInfo.from_api(obj)
        except ValueError as exc:
            log.warning("skipping malformed node: %s", exc)
            return None
        self.put_node(node)
        return node

    def put_node(self, node: NodeInfo) -> None:
        with self._lock:
            if self._nodes.get(node.name) != node:
                self._nodes[node.name] = node
                self._version += 1

    def delete_node(self, name: str) -> None:
        with self._lock:
            if self._nodes.pop(name, None) is not None:
                self._version += 1

    def upsert_pod(self, obj: Mapping[str, Any]) -> PodInfo | None:
        try:
            pod = PodInfo.from_api(obj)
        except ValueError as exc:
            log.warning("skipping malformed pod: %s", exc)
            return None
        self.put_pod(pod)
        return pod

    def put_pod(self, pod: PodInfo) -> PodInfo | None:
        """Store ``pod``; returns the record it replaced (``None`` if new)."""
        with self._lock:
            old = self._pods.get(pod.uid)
            if old == pod:
                return old
            if old is not None:
                self._account(old, -1)
            self._pods[pod.uid] = pod
            self._account(pod, +1)
            self._version += 1
            return old

    def delete_pod(self, uid: str) -> PodInfo | None:
        with self._lock:
            old = self._pods.pop(uid, None)
            if old is not None:
                self._account(old, -1)
                self._version += 1
            return old

    def replace_nodes(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Replace every node (a relist): nodes absent from ``objs`` are removed."""
        fresh: dict[str, NodeInfo] = {}
        for obj in objs:
            try:
                node = NodeInfo.from_api(obj)
            except ValueError as exc:
                log.warning("skipping malformed node: %s", exc)
                continue
            fresh[node.name] = node
        with self._lock:
            if fresh != self._nodes:
                self._nodes = fresh
                self._version += 1

    def replace_pods(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Replace every pod (a relist) and rebuild the aggregates from scratch."""
        fresh: dict[str, PodInfo] = {}
        for obj in objs:
            try:
                pod = PodInfo.from_api(obj)
            except ValueError as exc:
                log.warning("skipping malformed pod: %s", exc)
                continue
            fresh[pod.uid] = pod
        with self._lock:
            self._pods = fresh
            self._demand = Counter()
            self._perf_pending = 0
            self._perf_by_node = Counter()
            self._cpu_by_node = Counter()
            self._mem_by_node = Counter()
            self._gpu_by_node = Counter()
            self._starting_by_node = Counter()
            self._pending_perf = {}
            self._arrivals = {}
            for pod in fresh.values():
                self._account(pod, +1)
            self._version += 1

    def _account(self, pod: PodInfo, sign: int) -> None:
        if not pod.active:
            return
        self._demand[pod.demand] += sign
        if pod.demand == PERFORMANCE and pod.created is not None:
            self._count_arrival(pod, sign)
        if pod.node_name is None:
            if pod.demand == PERFORMANCE:
                self._perf_pending += sign
                if sign > 0:
                    self._pending_perf[pod.uid] = pod
                else:
                    self._pending_perf.pop(pod.uid, None)
            return
        node = pod.node_name
        if pod.phase != "Running" and pod.cpu_request_millis:
            _add(self._starting_by_node, node, sign * pod.cpu_request_millis)
        if pod.demand == PERFORMANCE:
            _add(self._perf_by_node, node, sign)
        _add(self._cpu_by_node, node, sign * pod.cpu_request_millis)
        if pod.memory_request_bytes:
            _add(self._mem_by_node, node, sign * pod.memory_request_bytes)
        if pod.gpu_request:
            _add(self._gpu_by_node, node, sign * pod.gpu_request)

    def _count_arrival(self, pod: PodInfo, sign: int) -> None:
        assert pod.created is not None
        key = int(pod.created // ARRIVAL_BIN_SECONDS)
        b = self._arrivals.get(key)
        if b is None:
            if sign < 0:
                return
            b = self._arrivals[key] = _Bin()
        b.pods += sign
        b.gpus += sign * pod.gpu_request
        if not pod.gpu_request:
            b.cpu_millis += sign * pod.cpu_request_millis
        if sign > 0:
            if not pod.gpu_request:
                b.largest_cpu_millis = max(b.largest_cpu_millis, pod.cpu_request_millis)
            b.largest_gpus = max(b.largest_gpus, pod.gpu_request)
        elif b.pods <= 0:
            del self._arrivals[key]


def _add(counter: Counter[str], key: str, delta: int) -> None:
    """Move ``counter[key]`` by ``delta``, dropping keys that reach zero (the maps stay small)."""
    value = counter[key] + delta
    if value:
        counter[key] = value
    else:
        del counter[key]
