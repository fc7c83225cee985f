"""Unmet performance demand: the fast path from "no node fits" to "promote a node".

Two sources report a performance pod with nowhere to go: the extender, when its
filter leaves no node for the pod, and the pod watch, when the scheduler marks a
pending performance pod ``Unschedulable`` (the scheduler never calls an extender
when its own filters, such as the pod's ``NotIn [eco]`` affinity, already left no
node). Both call :meth:`UnmetDemand.report` and ask the labeller for an immediate
reconcile, which turns the reports into a :class:`PerformanceFloor` with
:func:`next_floor`.

A pod is counted once per ``cooldown`` seconds, so a scheduler retrying the same
pod does not promote a node on every attempt.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from joulie.core.plan import PerformanceFloor


@dataclass(frozen=True, slots=True)
class UnmetReport:
    pod_uid: str
    pod_key: str
    source: str
    cpu_millis: int = 0


class UnmetDemand:
    """Thread-safe inbox of unmet performance pods, drained by each reconcile."""

    def __init__(self, cooldown_seconds: float = 15.0) -> None:
        self._lock = threading.Lock()
        self._inbox: dict[str, UnmetReport] = {}
        self._counted_at: dict[str, float] = {}
        self.cooldown = cooldown_seconds

    def report(self, pod_uid: str, pod_key: str, source: str, now: float, cpu_millis: int = 0) -> bool:
        """Record an unmet pod; ``False`` when it was already counted within the cooldown."""
        with self._lock:
            last = self._counted_at.get(pod_uid)
            if pod_uid in self._inbox or (last is not None and now - last < self.cooldown):
                return False
            self._inbox[pod_uid] = UnmetReport(pod_uid, pod_key, source, cpu_millis)
            return True

    def forget(self, pod_uid: str) -> None:
        """The pod was placed or deleted: it no longer counts."""
        with self._lock:
            self._inbox.pop(pod_uid, None)
            self._counted_at.pop(pod_uid, None)

    def take(self, now: float) -> list[UnmetReport]:
        """Reports since the last call; they enter their cooldown."""
        with self._lock:
            reports = list(self._inbox.values())
            self._inbox.clear()
            for r in reports:
                self._counted_at[r.pod_uid] = now
            expired = [uid for uid, t in self._counted_at.items() if now - t >= self.cooldown]
            for uid in expired:
                del self._counted_at[uid]
            return reports

    def pending(self) -> int:
        with self._lock:
            return len(self._inbox)


def next_floor(
    previous: PerformanceFloor | None,
    performance_nodes_now: int,
    unmet: list[UnmetReport],
    now: float,
    pods_per_node: int,
    hold_seconds: float,
) -> PerformanceFloor | None:
    """The performance-node floor after ``unmet`` new reports.

    One more performance node per ``pods_per_node`` unmet pods (at least one), on
    top of what the cluster has now, held for ``hold_seconds`` so the next periodic
    tick does not undo the promotion before the pods land.
    """
    active = previous if previous is not None and previous.active(now) else None
    if not unmet:
        return active
    extra = max(1, math.ceil(len(unmet) / pods_per_node))
    wanted = performance_nodes_now + extra
    if active is not None:
        wanted = max(wanted, active.nodes)
    sample = ", ".join(r.pod_key for r in unmet[:3]) + (" ..." if len(unmet) > 3 else "")
    reason = (
        f"{len(unmet)} performance pod{'s' if len(unmet) != 1 else ''} found no node ({sample}); "
        f"promoting {extra} more"
    )
    return PerformanceFloor(nodes=wanted, until=now + hold_seconds, reason=reason)
