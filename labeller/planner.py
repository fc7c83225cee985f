"""The planner: from a cluster snapshot to one explained decision per node. Pure, no I/O.

Steps, each with its reason recorded:

1. **Eligibility**: nodes matching the selector, not cordoned, not reserved.
2. **Policy**: how many nodes should be performance (or a fixed assignment).
3. **Feedback**: performance pods the scheduler found no node for raise the target
   by one node per ``feedback_pods_per_node``, promoting eco nodes where they fit
   (CPU and GPUs); the nodes promoted for them carry a hold that keeps them
   performance while those pods wait (:mod:`labeller.feedback`).
4. **Wait target** (:mod:`labeller.policies.wait_target`): the nodes performance
   pods need room on (the waiting ones, the largest recent one, a burst) raise the
   target to at least their number and are chosen first; the policy's count stays
   as its formula says.
5. **Choice** (churn-aware, unlike upstream's name order): keep nodes in their
   current profile where the count allows; when some must go eco pick those with
   the fewest performance pods, then the least free room; when some must be
   promoted pick draining nodes first (they already run performance pods), then
   those with the most free room. Ties break by name, so a fresh cluster gets
   exactly upstream's assignment.
6. **Dwell**: a node that became performance less than ``dwell_seconds`` ago stays
   performance. Promotions never wait: a performance pod must not queue behind a
   timer.
7. **Guard**: eco nodes still running performance pods become draining; by default
   they keep the performance caps until those pods finish (``draining_caps``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from joulie.api.labels import ECO, PERFORMANCE, Profile
from joulie.core.guard import NodeState, guard
from joulie.core.model import NodeInfo, PodInfo
from joulie.core.plan import (
    CapSettings,
    Eligibility,
    FeedbackHold,
    PerformanceFloor,
    Plan,
    eligibility,
)
from joulie.core.store import ClusterSnapshot
from labeller.config import PlannerConfig
from labeller.feedback import Candidate, FeedbackState, feedback_state, held_floor, place_unmet, promotion_floor
from labeller.policies import Policy, PolicyInput
from labeller.policies.wait_target import PoolNode, PoolTarget, WaitTarget, recent_arrivals, size_pool
from labeller.templates import ControlledDecision


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
        holds: Mapping[str, FeedbackHold] | None = None,
    ) -> Plan:
        """Decide every eligible node.

        ``previous`` (the last plan) is the freshest record of each node's current
        profile; nodes absent from it fall back to their labels. ``since`` gives, per
        node, when it entered that profile, and ``holds`` the feedback promotions it
        carries (both from the NodePowerProfiles, so a restarted or newly elected
        labeller plans as its predecessor did).
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
                prev_since = prev[node.name].since
                if prev_since is not None:
                    since_map[node.name] = prev_since
            else:
                current[node.name] = node.profile_label
        perf_pods = snapshot.performance_pods
        config = self.config
        free: dict[str, int | None] = {
            n.name: n.cpu_allocatable_millis - snapshot.cpu_requested_millis.get(n.name, 0)
            if n.cpu_allocatable_millis > 0
            else None
            for n in eligible
        }
        room = {name: f if f is not None else 0 for name, f in free.items()}

        order = {n: i for i, n in enumerate(names)}
        target = result.performance_nodes
        floor_note = ""
        floor: PerformanceFloor | None = None
        fb = FeedbackState({}, frozenset(), ())
        node_holds: dict[str, FeedbackHold] = {}
        placed: list[PodInfo] = []
        if result.fixed is None and config.feedback_hold_seconds > 0:
            fb = feedback_state(holds or {}, snapshot, now, current, self.selector)
            node_holds.update(fb.holds)
            if fb.unmet:
                until = now + config.feedback_hold_seconds
                candidates = [
                    Candidate(n.name, free[n.name], max(0, n.gpu_allocatable - snapshot.gpus_requested.get(n.name, 0)))
                    # draining nodes first (they already run performance pods), then name order;
                    # place_unmet then takes the first where the pods fit (CPU and GPUs)
                    for n in sorted(eligible, key=lambda n: (-perf_pods.get(n.name, 0), order[n.name]))
                    if current.get(n.name) != PERFORMANCE and n.name not in fb.active
                ]
                for name, for_pods in place_unmet(fb.unmet, candidates, config.feedback_pods_per_node).items():
                    node_holds[name] = FeedbackHold(until=until, pods=frozenset(p.uid for p in for_pods))
                    placed.extend(for_pods)
            if placed:
                performance_now = (
                    previous.performance_count
                    if previous
                    else sum(1 for n in snapshot.nodes.values() if n.profile_label == PERFORMANCE)
                )
                promoted = len(node_holds) - len(fb.holds)
                floor = promotion_floor(placed, performance_now, promoted, now + config.feedback_hold_seconds)
                if floor.nodes > target:
                    target = min(floor.nodes, len(names))
                    floor_note = f"; raised to {target} by feedback: {floor.reason}"
            else:
                floor = held_floor(fb, snapshot.pending_performance)
        pinned = {n for n in fb.active if n in current} | (set(node_holds) - set(fb.holds))

        wanted: frozenset[str] = frozenset()
        if result.fixed is None and config.performance_wait_target_seconds > 0:
            sizing = self._wait_target(snapshot, eligible, current, pinned, now, fb.spent)
            wanted = sizing.nodes
            needed = len(wanted | pinned)
            if needed > target:
                target = min(needed, len(names))
                floor_note += f"; raised to {target} by the {sizing.reason}"

        dwell = config.dwell_seconds

        def held_by_dwell(name: str) -> float:
            """Seconds of dwell left for a performance node (0 when free to go eco)."""
            if dwell <= 0 or current.get(name) != PERFORMANCE or name not in since_map:
                return 0.0
            return max(0.0, since_map[name] + dwell - now)

        held = {n: held_by_dwell(n) for n in names}

        if result.fixed is not None:
            planned: dict[str, Profile] = dict(result.fixed)
            why_map = {n: "fixed by policy" for n in names}
            ranked = names
        else:
            ranked = sorted(
                names,
                key=lambda n: (
                    n not in pinned,
                    n not in wanted,
                    held[n] <= 0,
                    current.get(n) != PERFORMANCE,
                    -perf_pods.get(n, 0),
                    -room[n],
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
                    if n in wanted and n not in pinned:
                        verb += " for the wait target"
                else:
                    verb = "kept" if was == ECO else "chosen for eco"
                why_map[n] = f"{verb} (rank {rank}/{len(names)}, {pods_note})"

        decisions = []
        for name in names:
            profile = planned.get(name, PERFORMANCE)
            reason = f"{result.reason}{floor_note}; {why_map[name]}"
            if profile == ECO and name in pinned:
                profile = PERFORMANCE
                reason += f"; held performance by feedback ({node_holds[name].until - now:.0f}s left)"
            elif profile == ECO and held[name] > 0:
                profile = PERFORMANCE
                reason += f"; held performance by minimum dwell ({held[name]:.0f}s left)"
            pods = perf_pods.get(name, 0)
            state = guard(profile, pods)
            if state is NodeState.DRAINING_PERFORMANCE:
                reason += f"; draining until its {pods} performance pod{'s' if pods != 1 else ''} finish"
                if config.draining_caps == PERFORMANCE:
                    reason += " (performance caps kept until then)"
            was = current.get(name)
            node_since = since_map.get(name) if was == profile else now
            decisions.append(
                ControlledDecision(
                    name=name,
                    state=state,
                    caps=self.caps_for(state),
                    controls=config.cpu_controls.for_state(state, config.draining_caps),
                    performance_pods=pods,
                    reason=reason,
                    since=node_since,
                    hold=node_holds.get(name),
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
            floor=floor,
            unmet_pods=len(placed),
        )

    def _wait_target(
        self,
        snapshot: ClusterSnapshot,
        eligible: list[NodeInfo],
        current: Mapping[str, Profile | None],
        pinned: set[str],
        now: float,
        spent: frozenset[str],
    ) -> PoolTarget:
        """The nodes the performance wait target needs (:mod:`labeller.policies.wait_target`)."""
        config = self.config
        pool = [
            PoolNode(
                name=n.name,
                performance=current.get(n.name) == PERFORMANCE or n.name in pinned,
                alloc_millis=n.cpu_allocatable_millis,
                free_millis=max(0, n.cpu_allocatable_millis - snapshot.cpu_requested_millis.get(n.name, 0)),
                gpus=n.gpu_allocatable,
                free_gpus=max(0, n.gpu_allocatable - snapshot.gpus_requested.get(n.name, 0)),
                performance_pods=snapshot.performance_pods.get(n.name, 0),
            )
            for n in eligible
        ]
        arrivals = recent_arrivals(snapshot.performance_arrivals, now)
        target = WaitTarget(config.performance_wait_target_seconds, keep_busy=config.draining_caps == PERFORMANCE)
        waiting = [p for uid, p in snapshot.pending_performance.items() if uid not in spent]
        return size_pool(pool, waiting, arrivals, target, now)
