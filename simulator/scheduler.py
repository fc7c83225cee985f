"""A model of kube-scheduler's placement of one pod, with the Joulie extender plugged in.

Only the parts that decide where a pod lands are modelled, in kube-scheduler's order:

1. **Filter**: NodeResourcesFit (CPU and GPU requests against free allocatable),
   TaintToleration (GPU nodes carry the usual ``nvidia.com/gpu:NoSchedule`` taint,
   tolerated by pods that request GPUs) and NodeAffinity (the pod's required
   node-affinity terms against the node's labels).
2. **Extender filter** (when an extender is configured): the nodes that passed are
   sent to the extender, which answers with :func:`joulie.core.supply.filter_nodes`.
3. **Score**: NodeResourcesFit's LeastAllocated score (0..100) plus, with an
   extender, ``score * weight * 10`` from :func:`joulie.core.supply.score_nodes`
   (or, with power-aware scoring, :func:`joulie.core.power.power_scores`).
   Prioritize is skipped when a single node is feasible, as the scheduler does.
   Ties are broken at random (seeded), as ``selectHost`` does.

The extender functions are looked up on the :mod:`joulie.core.supply` module at call
time, so the simulator always runs whatever the extender server runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import joulie.core.budget as budget_rule
import joulie.core.power as power_rule
import joulie.core.supply as decide
from joulie.api.labels import DemandClass
from joulie.core.plan import PowerGuard

MAX_NODE_SCORE = 100


class SchedNode(Protocol):
    name: str
    alloc_millis: int
    free_millis: int
    gpus: int
    free_gpus: int

    @property
    def labels(self) -> Mapping[str, str]: ...


def expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """One ``matchExpressions`` entry against node labels (NodeSelectorRequirement semantics)."""
    key = expr.get("key")
    op = expr.get("operator")
    values = [str(v) for v in expr.get("values") or []]
    value = labels.get(key) if isinstance(key, str) else None
    present = value is not None
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if value is None or not values:
            return False
        try:
            lhs, rhs = int(value), int(values[0])
        except ValueError:
            return False
        return lhs > rhs if op == "Gt" else lhs < rhs
    return False


def required_affinity_matches(spec: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """``nodeSelector`` AND any one required node-selector term (terms are ORed, expressions ANDed)."""
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if not required:
        return True
    terms = required.get("nodeSelectorTerms") or []
    return any(
        bool(term.get("matchExpressions")) and all(expression_matches(e, labels) for e in term["matchExpressions"])
        for term in terms
    )


@dataclass(frozen=True, slots=True)
class PodRequest:
    """What the scheduler needs from a pending pod."""

    uid: str
    key: str
    demand: DemandClass
    cpu_millis: int
    gpus: int
    spec: Mapping[str, Any]
    affinity_key: str
    """Identity of the pod's scheduling constraints, for caching affinity verdicts."""


@dataclass(frozen=True, slots=True)
class Placement:
    node: str | None
    failed_at: str = ""
    """``scheduler`` (own filters left nothing) or ``extender`` (its filter left nothing)."""
    reason: str = ""


@dataclass
class ExtenderHook:
    """The extender as kube-scheduler sees it: a filter and a prioritize verb, plus its weight."""

    supply_of: Callable[[str], decide.Supply | None]
    requested_on: Callable[[str], int]
    weight: int = 5
    power_increase: Callable[[str, int, int], float | None] | None = None
    """Power-aware prioritize: predicted watts a pod of (CPU millis, GPUs) adds to the node."""
    guard_of: Callable[[str], PowerGuard | None] | None = None
    """A power budget's guard of each node (hot or steered racks, rack power headroom); ``None``: no budget."""
    rack_pending: Callable[[str], float | None] = lambda _rack: None
    """Predicted watts already placed in a rack since its headroom was measured."""
    pod_watts: Callable[[str, int, int], float | None] = lambda _n, _c, _g: None
    """Predicted watts a pod adds to a node (for rack headroom)."""


def least_allocated(alloc: int, free: int, pod: int) -> int:
    """kube-scheduler's LeastAllocated score for one resource, integer 0..100."""
    if alloc <= 0:
        return 0
    remaining = free - pod
    return max(0, remaining * MAX_NODE_SCORE // alloc)


@dataclass
class Scheduler:
    rng: random.Random
    extender: ExtenderHook | None = None
    _affinity_cache: dict[tuple[str, str], bool] = field(default_factory=dict)

    def labels_changed(self) -> None:
        """Node labels moved: affinity verdicts must be recomputed."""
        self._affinity_cache.clear()

    def _affinity_ok(self, pod: PodRequest, node: SchedNode) -> bool:
        key = (pod.affinity_key, node.name)
        ok = self._affinity_cache.get(key)
        if ok is None:
            ok = required_affinity_matches(pod.spec, node.labels)
            self._affinity_cache[key] = ok
        return ok

    @staticmethod
    def _within_budget(ext: ExtenderHook, pod: PodRequest, name: str) -> bool:
        """The extender's budget rules (:mod:`joulie.core.budget`): hot or steered racks, rack headroom."""
        assert ext.guard_of is not None
        guard = ext.guard_of(name)
        if guard is None:
            return True
        if budget_rule.guard_rejection(pod.demand, guard) is not None:
            return False
        if guard.rack is None or guard.rack_headroom_watts is None:
            return True
        watts = ext.pod_watts(name, pod.cpu_millis, pod.gpus)
        return budget_rule.rack_rejection(guard, ext.rack_pending(guard.rack) or 0.0, watts) is None

    def place(self, pod: PodRequest, nodes: Sequence[SchedNode]) -> Placement:
        feasible = [
            n
            for n in nodes
            if n.free_millis >= pod.cpu_millis
            and n.free_gpus >= pod.gpus
            and (pod.gpus > 0 or n.gpus == 0)
            and self._affinity_ok(pod, n)
        ]
        if not feasible:
            return Placement(None, "scheduler", f"0/{len(nodes)} nodes are available")
        by_name = {n.name: n for n in feasible}
        names = list(by_name)
        ext = self.extender
        if ext is not None:
            outcome = decide.filter_nodes(pod.demand, names, ext.supply_of)
            if outcome.nothing_left:
                return Placement(None, "extender", "extender filtered out every node")
            names = outcome.passed
            if ext.guard_of is not None:
                names = [n for n in names if self._within_budget(ext, pod, n)]
                if not names:
                    return Placement(None, "extender", "the power budget filtered out every node")
        if len(names) == 1:
            return Placement(names[0])
        totals = {
            name: least_allocated(by_name[name].alloc_millis, by_name[name].free_millis, pod.cpu_millis)
            for name in names
        }
        if ext is not None and ext.power_increase is not None:
            bands = [decide.band(pod.demand, ext.supply_of(name)) for name in names]
            increases = [ext.power_increase(name, pod.cpu_millis, pod.gpus) for name in names]
            for name, s in zip(names, power_rule.power_scores(bands, increases)):
                totals[name] += s * ext.weight * 10
        elif ext is not None:
            used = {name: ext.requested_on(name) + pod.cpu_millis for name in names}
            for name, s in decide.score_nodes(
                pod.demand, names, ext.supply_of, used.__getitem__, lambda n: by_name[n].alloc_millis
            ):
                totals[name] += s * ext.weight * 10
        best = max(totals.values())
        winners = [n for n in names if totals[n] == best]
        return Placement(winners[0] if len(winners) == 1 else self.rng.choice(winners))
