"""Pure extender decisions: which nodes a pod may use, and which it should prefer.

**Supply** of a node comes from the labeller's latest plan when the node is in it
(the freshest decision, possibly not yet visible in the labels), otherwise from the
node's labels when it matches the managed-node selector. Anything else is not
Joulie's to judge and passes untouched.

**Filter**
- performance pods are rejected from eco and draining nodes;
- eco pods are rejected from performance nodes;
- general pods, unmanaged and unknown nodes always pass;
- a pod asking for the ``performance`` pod power profile (``power.joulie.io/performance``, a
  PowerProfile on its exclusive cores) is filtered and scored as a performance pod, whatever
  its node selector says (:func:`joulie.core.classify.filter_demand`): an eco node would tune its cores but keep
  the package under the eco cap, so the profile could not deliver what it names. Unless the
  node is performance (not eco, not draining), it is refused. Other pod profiles
  (``balance-performance``, ``balance-power``, ``power``) do not change the pod's class.

Rejections are *unresolvable*: evicting pods (preemption) cannot change a node's
power profile, so the scheduler should not try it. The pod is retried, and the
feedback path (:mod:`labeller.feedback`) promotes a node when none is left.

**Score** (integers 0..10, what the scheduler accepts from an extender; it adds
``score * weight * 10`` to its own plugins' scores)::

    tier  = 2 if the node's supply is what the pod prefers
            1 if the node is unmanaged or unknown
            0 otherwise (general pods on performance or draining nodes)
    fill  = (CPU requested on the node + pods assumed there + this pod) / allocatable
    pack  = round(span * fill) if fill <= 1 else 0      (span: 3, 2, 3 for tiers 2, 1, 0)
    score = {2: 7, 1: 4, 0: 0}[tier] + pack

``round`` is half away from zero (:func:`packed_score`); a node whose allocatable CPU is
unknown gets ``pack = 0``.

General pods prefer eco nodes that are not draining, keeping performance capacity
free for performance pods; performance and eco pods prefer their own supply.
Within a tier, fuller nodes score higher (bin packing), so lightly used nodes
empty out and can be downgraded. A node the pod would overfill (counting pods
the extender placed a moment ago that the scheduler has not bound yet) gets no
packing points: without that rule a burst would keep choosing the fullest node
after it is full, piling onto one node until the scheduler's own fit check
turns the pods away one by one. The default plugins already spread; we only
pack, and the extender weight decides how strongly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from joulie.api.labels import (
    DRAINING_LABEL,
    DRAINING_YES,
    ECO,
    GENERAL,
    PERFORMANCE,
    POWER_PROFILE_LABEL,
    DemandClass,
    Profile,
)
from joulie.api.v1alpha1 import PERFORMANCE_POD_PROFILE, pod_profile_resource
from joulie.core.plan import Plan
from joulie.core.selector import LabelSelector

MAX_SCORE = 10
REASON_PREFIX = "joulie"
_PERF_POD_PROFILE = pod_profile_resource(PERFORMANCE_POD_PROFILE)


class Supply(NamedTuple):
    profile: Profile
    draining: bool
    source: str
    """``plan`` or ``labels``: where the verdict came from (shown in reasons)."""


def node_supply(
    name: str,
    plan: Plan | None,
    labels: Mapping[str, str] | None,
    selector: LabelSelector,
) -> Supply | None:
    """The node's supply, or ``None`` when Joulie does not manage it (or does not know it)."""
    if plan is not None:
        decision = plan.decision(name)
        if decision is not None:
            return Supply(decision.profile, decision.draining, "plan")
        if name in plan.skipped:
            return None
    if labels is None or not selector.matches(labels):
        return None
    profile = labels.get(POWER_PROFILE_LABEL)
    if profile not in (PERFORMANCE, ECO):
        return None
    return Supply(profile, labels.get(DRAINING_LABEL) == DRAINING_YES, "labels")  # type: ignore[arg-type]


def pod_profile_rule(supply: Supply | None) -> str:
    """What a node does with pod power profiles, for ``/plan``."""
    resource = pod_profile_resource(PERFORMANCE_POD_PROFILE)
    if supply is None:
        return f"not managed: pods asking for {resource} are not Joulie's to filter here"
    if supply.profile == PERFORMANCE:
        return f"performance node: accepts pods asking for {resource} and every other pod power profile"
    state = "eco and draining" if supply.draining else "eco (package power-capped)"
    return (
        f"{state}: refuses pods asking for {resource} (the eco cap would bound their cores); "
        "other pod power profiles are applied under the cap"
    )


def rejection(demand: DemandClass, supply: Supply | None) -> str | None:
    """Why ``demand`` may not use a node with ``supply`` (``None`` = it may)."""
    if supply is None or demand == GENERAL:
        return None
    where = "planned" if supply.source == "plan" else "labelled"
    if demand == PERFORMANCE:
        if supply.profile == ECO and supply.draining:
            return (
                f"{REASON_PREFIX}: node is {where} eco and draining its performance pods; "
                f"performance pods (and the {_PERF_POD_PROFILE} pod profile) need a performance node"
            )
        if supply.profile == ECO:
            return (
                f"{REASON_PREFIX}: node is {where} eco (power-capped); performance pods (and the "
                f"{_PERF_POD_PROFILE} pod profile) need a performance node"
            )
        return None
    if supply.profile == PERFORMANCE:
        return f"{REASON_PREFIX}: node is {where} performance; eco pods run on eco nodes"
    return None


@dataclass
class FilterOutcome:
    passed: list[str] = field(default_factory=list)
    unresolvable: dict[str, str] = field(default_factory=dict)

    @property
    def nothing_left(self) -> bool:
        return not self.passed


def filter_nodes(demand: DemandClass, names: Iterable[str], supply_of: Callable[[str], Supply | None]) -> FilterOutcome:
    out = FilterOutcome()
    for name in names:
        why = rejection(demand, supply_of(name))
        if why is None:
            out.passed.append(name)
        else:
            out.unresolvable[name] = why
    return out


def tier(demand: DemandClass, supply: Supply | None) -> int:
    if supply is None:
        return 1
    if demand == GENERAL:
        return 2 if supply.profile == ECO and not supply.draining else 0
    if demand == PERFORMANCE:
        return 2 if supply.profile == PERFORMANCE else 0
    return 2 if supply.profile == ECO else 0


class Band(NamedTuple):
    """The score of a node lies in ``base .. base + span``, by its tier."""

    base: int
    span: int


_BANDS = {2: Band(7, 3), 1: Band(4, 2), 0: Band(0, 3)}


def band(demand: DemandClass, supply: Supply | None) -> Band:
    return _BANDS[tier(demand, supply)]


def packed_score(band: Band, used_millis: int, alloc_millis: int) -> int:
    """The score formula: ``base`` plus packing points once ``used_millis`` (requested, assumed and
    this pod's CPU) land on a node of ``alloc_millis``; none when allocatable is unknown or the pod
    would overfill the node. ``int(x + 0.5)`` is :func:`round_half_away` for ``x >= 0``, inlined
    because prioritize evaluates this for every node of the cluster."""
    if alloc_millis <= 0 or used_millis > alloc_millis:
        return band.base
    return band.base + int(band.span * used_millis / alloc_millis + 0.5)


def score(demand: DemandClass, supply: Supply | None, used_millis: int, alloc_millis: int) -> int:
    """Score of one node for a pod of ``demand``: always an int in 0..10."""
    return packed_score(band(demand, supply), used_millis, alloc_millis)


def score_nodes(
    demand: DemandClass,
    names: Iterable[str],
    supply_of: Callable[[str], Supply | None],
    used_of: Callable[[str], int],
    alloc_of: Callable[[str], int],
) -> list[tuple[str, int]]:
    return [(name, score(demand, supply_of(name), used_of(name), alloc_of(name))) for name in names]


# ------------------------------------------------------------------ verdicts

PASSED = "passed"
UNMANAGED = "unmanaged"
REJECTED_ECO = "rejected-eco"
REJECTED_DRAINING = "rejected-draining"
REJECTED_PERFORMANCE = "rejected-performance"
REJECTED_POWER = "rejected-power"
"""A power budget keeps the pod off the node (rack too hot, steered, or no rack power headroom)."""


def decision_of(supply: Supply | None, why: str | None) -> str:
    """Metric label of one filter decision."""
    if why is None:
        return UNMANAGED if supply is None else PASSED
    if supply is not None and supply.draining:
        return REJECTED_DRAINING
    return REJECTED_ECO if supply is not None and supply.profile == ECO else REJECTED_PERFORMANCE


class Verdict(NamedTuple):
    """Everything the extender says about one node for one demand class."""

    reason: str | None
    """Why the node is rejected, ``None`` when it passes."""
    decision: str
    """Metric label (:func:`decision_of`)."""
    band: Band


def verdict(demand: DemandClass, supply: Supply | None) -> Verdict:
    why = rejection(demand, supply)
    return Verdict(why, decision_of(supply, why), band(demand, supply))
