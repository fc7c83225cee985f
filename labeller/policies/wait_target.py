"""The performance wait target: a layer over any policy that keeps performance supply ahead of demand.

A policy decides how many performance nodes there should be from demand counts; it cannot see
whether performance pods find room. This layer can. From what every replica observes (the waiting
performance pods and their requests, the arrival rate of performance pods from their creation
times, and the free CPU and GPUs on each node) it picks, per kind of server, nodes that must be
performance:

1. **Busy performance nodes stay.** A node that runs performance pods costs nothing extra as
   performance (a draining node keeps the performance caps until they finish anyway), and the room
   it frees then goes to performance pods. (Not with ``draining_caps: eco``, where it would cost.)
2. **Waiting pods** are placed, largest first, on the performance nodes with room; an idle
   performance node that takes one stays. A pod no performance node has room for is the feedback
   path's (:mod:`labeller.feedback`): it promotes a node where the pod fits as soon as the
   scheduler marks it ``Unschedulable``, once per pod.
3. **Headroom.** Room stays free for one pod as large as the largest recent one, and for a burst:
   what the last 2 minutes' arrival rate brings in the next 2 minutes, less what the performance
   nodes free meanwhile and during the wait the target allows (at the last 15 minutes' rate: in
   steady state work finishes as fast as it arrives). At a steady rate that is nothing; a shorter
   target keeps more. Idle performance nodes stay while the room is short of the headroom plus the
   hysteresis, so a dip in demand does not release a node the next arrival needs; eco nodes with the
   most room (draining ones first) are promoted until it is met. GPU servers keep their headroom
   but are not promoted for it: a promotion uncaps up to a whole server of eco work, so GPU pods get
   a GPU server when they wait (step 2), not in advance.

GPU pods are sized on GPU servers and CPU-only pods on CPU servers (GPU servers are normally tainted
for GPU pods); a cluster of one kind sizes everything on it. The planner makes at least the chosen
nodes performance: the policy's count, and its formula, stay as they are. Downgrades stay lazy: the
hysteresis here, the planner's dwell after it.

Pure: no I/O, no clock (the caller passes ``now`` and the observed state).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from joulie.core.model import PodInfo
from joulie.core.store import ARRIVAL_BIN_SECONDS, ArrivalBin

STEADY_WINDOW_SECONDS = 900.0
BURST_WINDOW_SECONDS = 120.0


class PoolNode(NamedTuple):
    """An eligible node as the layer sees it (a named tuple: the planner builds one per node per plan)."""

    name: str
    performance: bool
    """Performance now (not draining): new performance pods may land on it."""
    alloc_millis: int
    """Allocatable CPU (0: unknown, treated as room for anything)."""
    free_millis: int
    gpus: int
    free_gpus: int
    performance_pods: int


@dataclass(frozen=True, slots=True)
class ArrivalRate:
    """Performance demand arriving per second over a window, from the creation times of the pods."""

    cpu_millis_per_second: float = 0.0
    """CPU of performance pods that request no GPU."""
    gpus_per_second: float = 0.0
    largest_cpu_millis: int = 0
    """Largest CPU request of a performance pod without GPUs in the window."""


def arrival_rate(bins: Mapping[int, ArrivalBin], now: float, window_seconds: float) -> ArrivalRate:
    """Performance demand per second over the last ``window_seconds``, from creation-time bins."""
    lo = math.floor((now - window_seconds) / ARRIVAL_BIN_SECONDS)
    hi = math.floor(now / ARRIVAL_BIN_SECONDS)
    cpu = gpus = largest = 0
    for key, b in bins.items():
        if lo <= key <= hi:
            cpu += b.cpu_millis
            gpus += b.gpus
            largest = max(largest, b.largest_cpu_millis)
    return ArrivalRate(cpu / window_seconds, gpus / window_seconds, largest)


class Headroom(NamedTuple):
    cpu_millis: float
    gpus: float


@dataclass(frozen=True, slots=True)
class Arrivals:
    steady: ArrivalRate
    """Over the last 15 minutes: also the rate at which performance work finishes (Little's law)."""
    burst: ArrivalRate
    """Over the last 2 minutes."""

    @property
    def largest_cpu_millis(self) -> int:
        return max(self.steady.largest_cpu_millis, self.burst.largest_cpu_millis)

    def headroom(self, wait_seconds: float) -> Headroom:
        """The room a burst needs: what the last 2 minutes' rate brings in the next 2 minutes, less
        what the pool frees at the steady rate in that time plus the allowed wait."""
        span = BURST_WINDOW_SECONDS
        cpu = self.burst.cpu_millis_per_second * span - self.steady.cpu_millis_per_second * (span + wait_seconds)
        gpus = self.burst.gpus_per_second * span - self.steady.gpus_per_second * (span + wait_seconds)
        return Headroom(max(0.0, cpu), max(0.0, gpus))


def recent_arrivals(bins: Mapping[int, ArrivalBin], now: float) -> Arrivals:
    return Arrivals(arrival_rate(bins, now, STEADY_WINDOW_SECONDS), arrival_rate(bins, now, BURST_WINDOW_SECONDS))


@dataclass(frozen=True, slots=True)
class WaitTarget:
    """The operator's settings of the layer."""

    wait_seconds: float
    hysteresis: float = 0.25
    keep_busy: bool = True
    """Keep nodes that run performance pods (free when draining nodes keep performance caps anyway)."""


@dataclass(frozen=True, slots=True)
class PoolTarget:
    nodes: frozenset[str]
    """Nodes that must be performance for the target."""
    reason: str
    without_room: int = 0
    """Waiting performance pods no performance node has room for."""


@dataclass
class _Room:
    """The chosen nodes and their free room (``None`` CPU: unknown allocatable, room for anything)."""

    cpu: dict[str, int | None] = field(default_factory=dict)
    gpus: dict[str, int] = field(default_factory=dict)

    def add(self, node: PoolNode) -> None:
        if node.name not in self.cpu:
            self.cpu[node.name] = node.free_millis if node.alloc_millis > 0 else None
            self.gpus[node.name] = node.free_gpus

    def fits(self, name: str, pod: PodInfo) -> bool:
        cpu = self.cpu[name]
        return (cpu is None or cpu >= pod.cpu_request_millis) and self.gpus[name] >= pod.gpu_request

    def take(self, name: str, pod: PodInfo) -> None:
        cpu = self.cpu[name]
        self.cpu[name] = None if cpu is None else cpu - pod.cpu_request_millis
        self.gpus[name] -= pod.gpu_request

    def enough(self, cpu_millis: float, gpus: float, largest_cpu: int) -> bool:
        total_cpu = sum(c if c is not None else max(largest_cpu, 1) for c in self.cpu.values())
        big = largest_cpu <= 0 or any(c is None or c >= largest_cpu for c in self.cpu.values())
        return big and total_cpu >= cpu_millis and sum(self.gpus.values()) >= gpus


def _fits_empty(node: PoolNode, pod: PodInfo) -> bool:
    """Would ``pod`` fit in the node's free room now?"""
    return (node.alloc_millis <= 0 or node.free_millis >= pod.cpu_request_millis) and node.free_gpus >= pod.gpu_request


@dataclass(frozen=True, slots=True)
class _Need:
    """What one kind of server must provide."""

    waiting: Sequence[PodInfo]
    room_cpu: float
    room_gpus: float
    largest_cpu: int
    promote_for_headroom: bool


@dataclass(frozen=True, slots=True)
class _Choice:
    names: tuple[str, ...]
    without_room: int


def _choose(nodes: Sequence[PoolNode], need: _Need, target: WaitTarget, now: float) -> _Choice:
    by_room = sorted(nodes, key=lambda n: (-n.free_gpus, -n.free_millis, n.name))
    busy = [n for n in by_room if n.performance and n.performance_pods > 0 and target.keep_busy]
    idle = [n for n in by_room if n.performance and (n.performance_pods == 0 or not target.keep_busy)]
    draining = [n for n in by_room if not n.performance and n.performance_pods > 0]
    eco = [n for n in by_room if not n.performance and n.performance_pods == 0]
    room = _Room()
    for node in busy:
        room.add(node)

    unplaced: list[PodInfo] = []
    no_room: set[tuple[int, int]] = set()  # room only shrinks: a request that found none finds none later
    for pod in sorted(need.waiting, key=lambda p: (-p.gpu_request, -p.cpu_request_millis, p.uid)):
        shape = (pod.cpu_request_millis, pod.gpu_request)
        if shape in no_room:
            unplaced.append(pod)
            continue
        home = next((name for name in room.cpu if room.fits(name, pod)), None)
        if home is None:
            spare = next((n for n in idle if n.name not in room.cpu and _fits_empty(n, pod)), None)
            if spare is not None:
                room.add(spare)
                home = spare.name
        if home is None:
            no_room.add(shape)
            unplaced.append(pod)
        else:
            room.take(home, pod)

    keep = 1.0 + target.hysteresis
    for node in idle:
        if room.enough(need.room_cpu * keep, need.room_gpus * keep, need.largest_cpu):
            break
        room.add(node)
    if need.promote_for_headroom:
        for node in (*draining, *eco):
            if room.enough(need.room_cpu, need.room_gpus, need.largest_cpu):
                break
            if node.free_millis > 0 or node.alloc_millis <= 0 or node.free_gpus > 0:
                room.add(node)

    return _Choice(tuple(room.cpu), len(unplaced))


def size_pool(
    nodes: Sequence[PoolNode],
    waiting: Sequence[PodInfo],
    arrivals: Arrivals,
    target: WaitTarget,
    now: float,
) -> PoolTarget:
    """The nodes that must be performance for ``target``."""
    gpu_nodes = [n for n in nodes if n.gpus > 0]
    cpu_nodes = [n for n in nodes if n.gpus == 0]
    if not cpu_nodes:
        cpu_nodes, gpu_nodes = gpu_nodes, []
    room_cpu, room_gpus = arrivals.headroom(target.wait_seconds)
    largest = arrivals.largest_cpu_millis
    on_cpu = _choose(
        cpu_nodes,
        _Need(
            [p for p in waiting if p.gpu_request == 0 or not gpu_nodes],
            room_cpu,
            0.0 if gpu_nodes else room_gpus,
            largest,
            promote_for_headroom=True,
        ),
        target,
        now,
    )
    on_gpu = _Choice((), 0)
    if gpu_nodes:
        on_gpu = _choose(
            gpu_nodes,
            _Need([p for p in waiting if p.gpu_request > 0], 0.0, room_gpus, 0, promote_for_headroom=False),
            target,
            now,
        )
    chosen = on_cpu.names + on_gpu.names
    without_room = on_cpu.without_room + on_gpu.without_room
    reason = (
        f"wait target {target.wait_seconds:g}s: {len(chosen)} performance node{'s' if len(chosen) != 1 else ''} "
        f"for {len(waiting)} waiting performance pod{'s' if len(waiting) != 1 else ''}"
        + (f" ({without_room} without room: the feedback path's)" if without_room else "")
        + (f", room for a {largest / 1000:g}-core pod" if largest else "")
        + (f", {room_cpu / 1000:.0f} cores for a burst" if room_cpu else "")
        + (f", {room_gpus:.1f} GPUs for a burst" if room_gpus else "")
    )
    return PoolTarget(frozenset(chosen), reason, without_room)


__all__ = [
    "ArrivalRate",
    "Arrivals",
    "Headroom",
    "PoolNode",
    "PoolTarget",
    "WaitTarget",
    "arrival_rate",
    "recent_arrivals",
    "size_pool",
]
