"""The planner: from a cluster snapshot to one explained decision per node. Pure, no I/O.

Steps, each with its reason recorded:

1. **Eligibility**: nodes matching the selector, not cordoned, not reserved.
2. **Policy**: how many nodes should be performance (or a fixed assignment).
3. **Feedback floor**: the extender saw performance pods with nowhere to go; keep
   at least that many performance nodes for a while (see :mod:`labeller.feedback`).
4. **Choice** (churn-aware, unlike upstream's name order): keep nodes in their
   current profile where the count allows; when some must go eco pick those with
   the fewest performance pods; when some must be promoted pick draining nodes
   first (they already run performance pods). Ties break by name, so a fresh
   cluster gets exactly upstream's assignment.
5. **Dwell**: a node that became performance less than ``dwell_seconds`` ago stays
   performance. Promotions never wait: a performance pod must not queue behind a
   timer.
6. **Guard**: eco nodes still running performance pods become draining; by default
   they keep the performance caps until those pods finish (``draining_caps``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from joulie.api.labels import ECO, PERFORMANCE, Profile
from labeller.config import CapSettings, PlannerConfig
from labeller.guard import NodeState, guard
from labeller.model import NodeInfo
from labeller.policies import DemandSummary, Policy, PolicyInput
from labeller.selector import LabelSelector
from labeller.store import ClusterSnapshot


@dataclass(frozen=True, slots=True)
class PerformanceFloor:
    """At least ``nodes`` performance nodes until ``until`` (unix seconds), and why."""

    nodes: int
    until: float
    reason: str

    def active(self, now: float) -> bool:
        return self.nodes > 0 and now < self.until


@dataclass(frozen=True, slots=True)
class NodeDecision:
    name: str
    state: NodeState
    caps: CapSettings
    performance_pods: int
    reason: str
    since: float | None
    """When the node entered its current profile (unix seconds), if known."""

    @property
    def profile(self) -> Profile:
        return self.state.profile

    @property
    def draining(self) -> bool:
        return self.state.draining

    @property
    def cap_watts(self) -> float | None:
        return self.caps.cpu_watts

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "profile": self.profile,
            "draining": self.draining,
            "state": self.state.value,
            "capWatts": self.cap_watts,
            "performancePods": self.performance_pods,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    policy: str
    policy_reason: str
    generated_at: float
    demand: DemandSummary
    target_performance: int
    nodes: tuple[NodeDecision, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Nodes matching the selector that are not managed now (cordoned, reserved), and why."""
    floor: PerformanceFloor | None = None
    _index: dict[str, NodeDecision] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {d.name: d for d in self.nodes})

    def decision(self, name: str) -> NodeDecision | None:
        return self._index.get(name)

    def by_name(self) -> Mapping[str, NodeDecision]:
        return self._index

    @property
    def performance_count(self) -> int:
        return sum(1 for d in self.nodes if d.profile == PERFORMANCE)

    def count(self, state: NodeState) -> int:
        return sum(1 for d in self.nodes if d.state is state)

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "policyReason": self.policy_reason,
            "generatedAt": self.generated_at,
            "demand": {
                "performance": self.demand.performance,
                "eco": self.demand.eco,
                "general": self.demand.general,
                "performancePending": self.demand.performance_pending,
            },
            "targetPerformance": self.target_performance,
            "performanceFloor": (
                {"nodes": self.floor.nodes, "until": self.floor.until, "reason": self.floor.reason}
                if self.floor and self.floor.active(self.generated_at)
                else None
            ),
            "nodes": [d.to_json() for d in self.nodes],
            "skipped": [{"name": n, "reason": r} for n, r in sorted(self.skipped.items())],
        }


def eligibility(node: NodeInfo, selector: LabelSelector) -> str | None:
    """``None`` when the node is eligible, else why not; nodes outside the selector get ``""``."""
    if not selector.matches(node.labels):
        return ""
    if node.reserved:
        return "reserved (joulie.io/reserved=true): never touched, never counted"
    if node.unschedulable:
        return "cordoned (spec.unschedulable): left as it is until uncordoned"
    return None


class Planner:
    """Holds the parsed configuration; :meth:`plan` is a pure function of its arguments."""

    def __init__(self, config: PlannerConfig) -> None:
        self.config = config
        self.policy: Policy[Any] = config.build_policy()
        self.selector = config.selector()

    def caps_for(self, state: NodeState) -> CapSettings:
        """Caps to write for a node in ``state``.

        A draining node is eco for the scheduler at once, but by default it keeps the
        performance caps until its performance pods are gone: the guard exists so that
        a downgrade never slows a running performance pod.
        """
        if state is NodeState.ACTIVE_PERFORMANCE:
            return self.config.performance_caps
        if state is NodeState.DRAINING_PERFORMANCE and self.config.draining_caps == PERFORMANCE:
            return self.config.performance_caps
        return self.config.eco_caps

    def plan(
        self,
        snapshot: ClusterSnapshot,
        now: float,
        previous: Plan | None = None,
        since: Mapping[str, float] | None = None,
        floor: PerformanceFloor | None = None,
    ) -> Plan:
        """Decide every eligible node.

        ``previous`` (the last plan) is the freshest record of each node's current
        profile; nodes absent from it fall back to their labels. ``since`` gives, per
        node, when it entered that profile (from the NodePowerProfile annotation after
        a restart).
        """
        eligible: list[NodeInfo] = []
        skipped: dict[str, str] = {}
        for name in sorted(snapshot.nodes):
            node = snapshot.nodes[name]
            why = eligibility(node, self.selector)
            if why is None:
                eligible.append(node)
            elif why:
                skipped[name] = why
        names = [n.name for n in eligible]
        result = self.policy.decide(PolicyInput(names, snapshot.demand, now))

        prev = previous.by_name() if previous else {}
        since_map = dict(since or {})
        current: dict[str, Profile | None] = {}
        for node in eligible:
            if node.name in prev:
                current[node.name] = prev[node.name].profile
                if prev[node.name].since is not None:
                    since_map[node.name] = prev[node.name].since  # type: ignore[assignment]
            else:
                current[node.name] = node.profile_label
        perf_pods = snapshot.performance_pods

        target = result.performance_nodes
        floor_note = ""
        active_floor = floor if floor is not None and floor.active(now) and result.fixed is None else None
        if active_floor is not None and active_floor.nodes > target:
            target = min(active_floor.nodes, len(names))
            floor_note = f"; raised to {target} by feedback: {active_floor.reason}"

        dwell = self.config.dwell_seconds

        def held_by_dwell(name: str) -> float:
            """Seconds of dwell left for a performance node (0 when free to go eco)."""
            if dwell <= 0 or current.get(name) != PERFORMANCE or name not in since_map:
                return 0.0
            return max(0.0, since_map[name] + dwell - now)

        held = {n: held_by_dwell(n) for n in names}
        order = {n: i for i, n in enumerate(names)}

        if result.fixed is not None:
            planned: dict[str, Profile] = dict(result.fixed)
            why_map = {n: "fixed by policy" for n in names}
        else:
            ranked = sorted(
                names,
                key=lambda n: (
                    held[n] <= 0,
                    current.get(n) != PERFORMANCE,
                    -perf_pods.get(n, 0),
                    order[n],
                ),
            )
            chosen = set(ranked[:target])
            planned = {n: (PERFORMANCE if n in chosen else ECO) for n in names}
            why_map = {}
            for rank, n in enumerate(ranked, start=1):
                was = current.get(n)
                pods = perf_pods.get(n, 0)
                pods_note = f"{pods} performance pod{'s' if pods != 1 else ''}"
                if planned[n] == PERFORMANCE:
                    verb = "kept" if was == PERFORMANCE else "promoted"
                else:
                    verb = "kept" if was == ECO else "chosen for eco"
                why_map[n] = f"{verb} (rank {rank}/{len(names)}, {pods_note})"

        decisions = []
        for name in names:
            profile = planned.get(name, PERFORMANCE)
            reason = f"{result.reason}{floor_note}; {why_map[name]}"
            if profile == ECO and held[name] > 0:
                profile = PERFORMANCE
                reason += f"; held performance by minimum dwell ({held[name]:.0f}s left)"
            pods = perf_pods.get(name, 0)
            state = guard(profile, pods)
            if state is NodeState.DRAINING_PERFORMANCE:
                reason += f"; draining until its {pods} performance pod{'s' if pods != 1 else ''} finish"
                if self.config.draining_caps == PERFORMANCE:
                    reason += " (performance caps kept until then)"
            was = current.get(name)
            node_since = since_map.get(name) if was == profile else now
            decisions.append(
                NodeDecision(
                    name=name,
                    state=state,
                    caps=self.caps_for(state),
                    performance_pods=pods,
                    reason=reason,
                    since=node_since,
                )
            )
        return Plan(
            policy=self.policy.name,
            policy_reason=result.reason + floor_note,
            generated_at=now,
            demand=snapshot.demand,
            target_performance=target,
            nodes=tuple(decisions),
            skipped=skipped,
            floor=active_floor,
        )
