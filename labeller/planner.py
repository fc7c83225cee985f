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

from typing import Any, Mapping

from joulie.api.labels import ECO, PERFORMANCE, Profile
from joulie.core.guard import NodeState, guard
from joulie.core.model import NodeInfo
from joulie.core.plan import CapSettings, Eligibility, NodeDecision, PerformanceFloor, Plan, eligibility
from joulie.core.store import ClusterSnapshot
from labeller.config import PlannerConfig
from labeller.policies import Policy, PolicyInput


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
        skipped: dict[str, Eligibility] = {}
        for name in sorted(snapshot.nodes):
            node = snapshot.nodes[name]
            verdict = eligibility(node, self.selector)
            if verdict is Eligibility.ELIGIBLE:
                eligible.append(node)
            elif verdict is not Eligibility.NOT_SELECTED:
                skipped[name] = verdict
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
