"""From a plan and what the cluster shows to the writes that make them agree. Pure.

:func:`diff` compares the plan with the observed node labels and NodePowerProfiles
and returns :class:`Actions`; :mod:`labeller.executor` performs them. Keeping the two
apart is what lets ``joulie plan``, a follower replica and ``--dry-run`` ask for a
plan without writing anything, and lets tests read the writes a plan implies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joulie.api.labels import DRAINING_LABEL, POWER_PROFILE_LABEL
from joulie.api.v1alpha1 import NodePowerProfile, npp_name
from joulie.core.guard import NodeState
from joulie.core.model import NodeInfo
from joulie.core.plan import Plan
from labeller.desired import annotations_differ, desired_npp, labels_patch, spec_differs
from labeller.profiles import ObservedProfile


@dataclass(frozen=True, slots=True)
class Transition:
    node: str
    was: NodeState | None
    now: NodeState
    reason: str


@dataclass(frozen=True, slots=True)
class NodeActions:
    """The writes for one planned node, in order; a failed write skips the rest of them."""

    node: str
    profile: NodePowerProfile | None = None
    """Apply this NodePowerProfile first: the agent should cap before the scheduler sees eco supply."""
    reverts_hand_edit: bool = False
    labels: Mapping[str, str | None] | None = None
    transition: Transition | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """A NodePowerProfile whose node left management (or the cluster): delete it, then tidy up."""

    profile: str
    node: str | None
    """The node, when it is still in the cluster (it gets a PowerProfileReleased event)."""
    stale_labels: Mapping[str, None] | None = None
    """Our labels to remove from a node that left the selector (they would mislead the scheduler)."""


@dataclass(frozen=True, slots=True)
class PolicyStatusWrite:
    """A PowerCappingPolicy status that differs from what the cluster shows."""

    policy: str
    status: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PolicyEventAction:
    policy: str
    reason: str
    message: str
    type: str = "Normal"


@dataclass(frozen=True, slots=True)
class Actions:
    nodes: tuple[NodeActions, ...]
    releases: tuple[Release, ...]
    policies: tuple[PolicyStatusWrite, ...] = ()
    policy_events: tuple[PolicyEventAction, ...] = ()


def diff(
    plan: Plan,
    previous: Plan | None,
    nodes: Mapping[str, NodeInfo],
    profiles: Mapping[str, ObservedProfile],
) -> Actions:
    """The writes that bring the cluster to ``plan``; nothing for what already agrees."""
    prev = previous.by_name() if previous else {}
    out: list[NodeActions] = []
    for decision in plan.nodes:
        node = nodes.get(decision.name)
        if node is None:
            continue
        before = prev.get(decision.name)
        was = before.state if before is not None else NodeState.from_labels(node.profile_label, node.draining_label)
        observed = profiles.get(npp_name(decision.name))
        spec_changed = observed is None or spec_differs(observed.spec, decision, plan.policy)
        profile = None
        if spec_changed or (observed is not None and annotations_differ(observed.annotations, decision)):
            profile = desired_npp(decision, plan.policy)
        hand_edited = (
            spec_changed
            and observed is not None
            and observed.spec is not None
            and before is not None
            and before.state is decision.state
        )
        transition = (
            Transition(decision.name, was, decision.state, decision.reason) if was is not decision.state else None
        )
        labels = labels_patch(node.labels, decision)
        if profile is not None or labels or transition is not None:
            out.append(NodeActions(decision.name, profile, hand_edited, labels, transition))

    keep = {npp_name(d.name) for d in plan.nodes}
    keep |= {npp_name(name) for name, verdict in plan.skipped.items() if verdict.keeps_profile}
    releases: list[Release] = []
    for observed in sorted(profiles.values(), key=lambda o: o.name):
        if observed.name in keep:
            continue
        node = nodes.get(observed.node_name) if observed.node_name else None
        stale = None
        if node is not None and node.name not in plan.skipped:
            stale = {k: None for k in (POWER_PROFILE_LABEL, DRAINING_LABEL) if k in node.labels} or None
        releases.append(Release(observed.name, node.name if node is not None else None, stale))
    return Actions(tuple(out), tuple(releases))


def _without_timestamps(status: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k != "lastUpdated"}


def policy_writes(
    statuses: Mapping[str, Mapping[str, Any]], observed: Mapping[str, Mapping[str, Any] | None]
) -> tuple[PolicyStatusWrite, ...]:
    """Status writes for the policies whose computed status differs from the observed one
    (``lastUpdated`` alone never causes a write)."""
    out = []
    for name, status in sorted(statuses.items()):
        seen = observed.get(name)
        if seen is None or _without_timestamps(seen) != _without_timestamps(status):
            out.append(PolicyStatusWrite(name, status))
    return tuple(out)
