"""Unmet performance demand: the fast path from "no node fits" to "promote a node". Pure.

The signal is what every replica sees through the API: a pending performance pod the
scheduler marked ``PodScheduled=False, reason=Unschedulable``. kube-scheduler writes
that condition whether its own filters or the extender's left no node, so nothing the
extender hears in a request counts by itself (a forged ``/filter`` cannot promote a
node); the extender only asks for an immediate reconcile.

A promotion made for such pods is a :class:`~joulie.core.plan.FeedbackHold` on the
promoted node, written into its NodePowerProfile. From the holds and the store, every
replica derives the same answer:

- a hold is **active** (pins its node to performance) until it expires, while one of
  its pods still waits or the node runs performance pods: a hold whose pods were
  deleted, or landed elsewhere, lets its node go;
- a hold is **kept** while active or while one of its pods still waits: such a pod was
  counted once and never promotes another node, so one pod stuck for a reason no
  promotion fixes costs at most one node, not the whole fleet;
- a waiting pod not covered by a kept hold counts when promoting some eco node could
  give it room (see :func:`could_help`), and the promotion goes to a node where it fits
  (:func:`place_unmet`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from joulie.api.labels import PERFORMANCE, Profile
from joulie.core.fit import fits_if_promoted
from joulie.core.model import PodInfo
from joulie.core.plan import Eligibility, FeedbackHold, PerformanceFloor, eligibility
from joulie.core.selector import LabelSelector
from joulie.core.store import ClusterSnapshot


@dataclass(frozen=True, slots=True)
class FeedbackState:
    holds: Mapping[str, FeedbackHold]
    """Holds to keep writing, by node."""
    active: frozenset[str]
    """Nodes the active holds pin to performance."""
    unmet: tuple[PodInfo, ...]
    """Waiting performance pods to promote for now (not covered, and a promotion could help)."""
    spent: frozenset[str] = frozenset()
    """Pods still waiting after the hold made for them ran out: they had a node and did not land
    (something else holds them), so they no longer count as demand for more supply."""


def could_help(
    pod: PodInfo, snapshot: ClusterSnapshot, current: Mapping[str, Profile | None], selector: LabelSelector
) -> bool:
    """Would promoting some eligible eco node give this pod room (:func:`joulie.core.fit.fits_if_promoted`)?"""
    for name, node in snapshot.nodes.items():
        if current.get(name, node.profile_label) == PERFORMANCE:
            continue
        if eligibility(node, selector) is not Eligibility.ELIGIBLE:
            continue
        used_cpu = snapshot.cpu_requested_millis.get(name, 0)
        used_memory = snapshot.memory_requested_bytes.get(name, 0)
        if fits_if_promoted(pod, node, used_cpu, used_memory, snapshot.gpus_requested.get(name, 0)):
            return True
    return False


def feedback_state(
    observed: Mapping[str, FeedbackHold],
    snapshot: ClusterSnapshot,
    now: float,
    current: Mapping[str, Profile | None],
    selector: LabelSelector,
) -> FeedbackState:
    waiting = snapshot.pending_performance
    holds: dict[str, FeedbackHold] = {}
    active: set[str] = set()
    covered: set[str] = set()
    spent: set[str] = set()
    for node, hold in observed.items():
        if node not in snapshot.nodes:
            continue
        still_waiting = [uid for uid in hold.pods if uid in waiting]
        is_active = now < hold.until and (bool(still_waiting) or snapshot.performance_pods.get(node, 0) > 0)
        if is_active or still_waiting:
            holds[node] = hold
            covered.update(still_waiting)
        if now >= hold.until:
            spent.update(still_waiting)
        if is_active:
            active.add(node)
    unmet = tuple(
        pod
        for uid, pod in sorted(waiting.items())
        if pod.unschedulable and uid not in covered and could_help(pod, snapshot, current, selector)
    )
    return FeedbackState(holds, frozenset(active), unmet, frozenset(spent))


def _sample(pods: Sequence[PodInfo]) -> str:
    return ", ".join(p.key for p in pods[:3]) + (" ..." if len(pods) > 3 else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def promotion_floor(placed: Sequence[PodInfo], performance_now: int, extra: int, until: float) -> PerformanceFloor:
    """The floor a promotion asks for: ``extra`` nodes on top of what runs performance now."""
    reason = f"{_plural(len(placed), 'performance pod')} found no node ({_sample(placed)}); promoting {extra} more"
    return PerformanceFloor(nodes=performance_now + extra, until=until, reason=reason)


def held_floor(state: FeedbackState, waiting: Mapping[str, PodInfo]) -> PerformanceFloor | None:
    """The floor the active holds keep (for ``/plan``), ``None`` without one."""
    if not state.active:
        return None
    holds = [state.holds[n] for n in sorted(state.active)]
    pods = [waiting[uid] for h in holds for uid in sorted(h.pods) if uid in waiting]
    reason = f"{_plural(len(holds), 'node')} held performance for performance pods that found no node" + (
        f" ({_plural(len(pods), 'still waiting')}: {_sample(pods)})" if pods else ""
    )
    return PerformanceFloor(nodes=len(holds), until=max(h.until for h in holds), reason=reason)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An eco node a promotion could use, and the CPU and GPUs it has free (``None``: unknown, room for anything)."""

    name: str
    free_millis: int | None
    free_gpus: int | None = None


def place_unmet(
    unmet: Sequence[PodInfo], candidates: Sequence[Candidate], pods_per_node: int
) -> dict[str, list[PodInfo]]:
    """Which candidate nodes to promote, and for which pods: first fit (CPU and GPUs), GPU pods and larger
    requests first, at most ``pods_per_node`` pods a node, candidates in their order of preference. A
    promotion goes where its pods fit, so the pods it was made for can land at once."""
    free = {c.name: c.free_millis for c in candidates}
    free_gpus = {c.name: c.free_gpus for c in candidates}
    chosen: dict[str, list[PodInfo]] = {}
    for pod in sorted(unmet, key=lambda p: (-p.gpu_request, -p.cpu_request_millis, p.uid)):
        for c in candidates:
            room, gpus = free[c.name], free_gpus[c.name]
            if (
                len(chosen.get(c.name, ())) >= pods_per_node
                or (room is not None and room < pod.cpu_request_millis)
                or (gpus is not None and gpus < pod.gpu_request)
            ):
                continue
            chosen.setdefault(c.name, []).append(pod)
            if room is not None:
                free[c.name] = room - pod.cpu_request_millis
            if gpus is not None:
                free_gpus[c.name] = gpus - pod.gpu_request
            break
    return chosen


__all__ = ["Candidate", "FeedbackState", "could_help", "feedback_state", "held_floor", "place_unmet", "promotion_floor"]
