"""The plan: one explained decision per managed node, and the types it is made of.

The labeller produces a :class:`Plan`; the reconciler turns it into writes, the
extender into filter verdicts and scores, ``/plan`` and ``joulie plan`` into text.
Every type here is immutable and free of I/O, so a plan can be shared between
threads and compared between replicas.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from joulie.api.labels import PERFORMANCE, Profile
from joulie.core.guard import NodeState
from joulie.core.model import DemandSummary, NodeInfo
from joulie.core.selector import LabelSelector


class Eligibility(enum.Enum):
    """Whether the labeller manages a node now, and if not, why."""

    ELIGIBLE = "eligible"
    NOT_SELECTED = "not selected"
    RESERVED = "reserved"
    CORDONED = "cordoned"

    @property
    def reason(self) -> str:
        return _ELIGIBILITY_REASONS[self]

    @property
    def keeps_profile(self) -> bool:
        """A node skipped for maintenance keeps its NodePowerProfile: a cordon must not uncap it."""
        return self is Eligibility.CORDONED


_ELIGIBILITY_REASONS = {
    Eligibility.ELIGIBLE: "eligible",
    Eligibility.NOT_SELECTED: "labels do not match the managed-node selector",
    Eligibility.RESERVED: "reserved (joulie.io/reserved=true): never touched, never counted",
    Eligibility.CORDONED: "cordoned (spec.unschedulable): left as it is until uncordoned",
}


def eligibility(node: NodeInfo, selector: LabelSelector) -> Eligibility:
    if not selector.matches(node.labels):
        return Eligibility.NOT_SELECTED
    if node.reserved:
        return Eligibility.RESERVED
    if node.unschedulable:
        return Eligibility.CORDONED
    return Eligibility.ELIGIBLE


class CapSettings(BaseModel):
    """Caps written into the NodePowerProfile of a node in one profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_watts: float | None = Field(default=None, ge=1, description="CPU package cap per package, watts.")
    cpu_pct_of_max: float | None = Field(default=None, ge=1, le=100)
    gpu_watts: float | None = Field(default=None, ge=1, description="GPU board power cap per GPU, watts.")
    gpu_pct_of_max: float | None = Field(default=None, ge=1, le=100)


PERFORMANCE_CAPS = CapSettings(cpu_watts=5000)
ECO_CAPS = CapSettings(cpu_watts=120, gpu_pct_of_max=60)
DEFAULT_ECO_CPU_WATTS = 120.0


@dataclass(frozen=True, slots=True)
class PerformanceFloor:
    """At least ``nodes`` performance nodes until ``until`` (unix seconds), and why."""

    nodes: int
    until: float
    reason: str

    def active(self, now: float) -> bool:
        return self.nodes > 0 and now < self.until


@dataclass(frozen=True, slots=True)
class FeedbackHold:
    """A node promoted for performance pods that found no node.

    It stays performance until ``until`` while those pods still need it, and the pods it
    was promoted for never promote another node while they wait: one stuck pod costs at
    most one node. Written into the node's NodePowerProfile (annotations), so every
    replica plans with it and a failover neither loses nor invents it.
    """

    until: float
    pods: frozenset[str]
    """UIDs of the pending performance pods the promotion was for."""


@dataclass(frozen=True, slots=True)
class BudgetNote:
    """What a power budget made of one node's caps, and why (``/plan``, ``joulie plan``)."""

    policy: str
    share_watts: float
    measured_watts: float | None
    capped: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "shareWatts": round(self.share_watts, 1),
            "measuredWatts": None if self.measured_watts is None else round(self.measured_watts, 1),
            "capped": self.capped,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class PowerGuard:
    """What the extender must respect on one node because of a budget: its rack's state."""

    policy: str
    rack: str | None
    stage: int = 0
    """The rack's thermal stage (0 normal, 1 no new eco/general work, 2 eco capped, 3 all capped)."""
    rack_headroom_watts: float | None = None
    """Watts the node's rack may still add (``None``: no rack power limit)."""
    steered: bool = False
    """The budget algorithm keeps new eco and general work off the node."""
    rack_limit_watts: float | None = None
    """The rack's ``maxPower`` (``None``: no rack power limit)."""


@dataclass(frozen=True, slots=True)
class BudgetSummary:
    """One power-capping policy as ``/plan`` shows it."""

    name: str
    limit_watts: float
    measured_watts: float | None
    headroom_watts: float | None
    state: str
    racks: tuple[Mapping[str, Any], ...] = ()
    nodes: int = 0
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limitWatts": self.limit_watts,
            "measuredWatts": None if self.measured_watts is None else round(self.measured_watts, 1),
            "headroomWatts": None if self.headroom_watts is None else round(self.headroom_watts, 1),
            "state": self.state,
            "nodes": self.nodes,
            "message": self.message,
            "racks": list(self.racks),
        }


@dataclass(frozen=True, slots=True)
class NodeDecision:
    name: str
    state: NodeState
    caps: CapSettings
    performance_pods: int
    reason: str
    since: float | None
    """When the node entered its current profile (unix seconds), if known."""
    hold: FeedbackHold | None = None
    """The feedback promotion this node carries, if any (kept in its NodePowerProfile)."""
    budget: BudgetNote | None = None
    """What a power budget did to the node's caps, if one governs it."""

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
            **(self.budget_json() if self.budget is not None else {}),
        }

    def budget_json(self) -> dict[str, Any]:
        """The budget keys of a node's ``/plan`` line (present only when a budget governs it)."""
        assert self.budget is not None
        return {
            "budget": self.budget.to_json(),
            "budgetShareWatts": round(self.budget.share_watts, 1),
            "measuredWatts": None if self.budget.measured_watts is None else round(self.budget.measured_watts, 1),
            "gpuCapWatts": self.caps.gpu_watts,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    policy: str
    policy_reason: str
    generated_at: float
    demand: DemandSummary
    target_performance: int
    nodes: tuple[NodeDecision, ...]
    skipped: Mapping[str, Eligibility] = field(default_factory=dict)
    """Nodes matching the selector that are not managed now (cordoned, reserved), and why."""
    floor: PerformanceFloor | None = None
    unmet_pods: int = 0
    """Waiting performance pods this plan promoted nodes for (new feedback)."""
    budgets: tuple[BudgetSummary, ...] = ()
    """Power-capping policies and what they did (empty without one)."""
    guards: Mapping[str, PowerGuard] = field(default_factory=dict)
    """Per node, what the extender must respect because of a budget."""
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
            "skipped": [{"name": n, "reason": e.reason} for n, e in sorted(self.skipped.items())],
            **({"budgets": [b.to_json() for b in self.budgets]} if self.budgets else {}),
        }
