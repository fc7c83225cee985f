"""What a policy is: a pure function from cluster demand to a performance-node target."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Mapping, Sequence, TypeVar

from pydantic import BaseModel, ConfigDict

from joulie.api.labels import Profile


def round_half_away(x: float) -> int:
    """Round half away from zero, like Go's ``math.Round`` (Python's ``round`` is banker's)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


@dataclass(frozen=True, slots=True)
class DemandSummary:
    """Active pods per demand class (pending pods included, finished or deleting ones not)."""

    performance: int = 0
    eco: int = 0
    general: int = 0
    performance_pending: int = 0

    @property
    def total(self) -> int:
        return self.performance + self.eco + self.general


@dataclass(frozen=True, slots=True)
class PolicyInput:
    nodes: Sequence[str]
    """Eligible nodes, sorted by name."""
    demand: DemandSummary
    now: float
    """Unix seconds."""


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """Either a count of performance nodes (the planner chooses which) or a fixed assignment."""

    performance_nodes: int
    reason: str
    fixed: Mapping[str, Profile] | None = field(default=None)


class PolicyParams(BaseModel):
    """Base of every policy's parameters: typed, validated, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=PolicyParams)


class Policy(Generic[P]):
    """A policy: a name (part of the API), typed parameters and one pure ``decide``."""

    name: ClassVar[str]
    params_model: ClassVar[type[PolicyParams]]
    description: ClassVar[str]

    def __init__(self, params: P) -> None:
        self.params = params

    def decide(self, inp: PolicyInput) -> PolicyResult:  # pragma: no cover - interface
        raise NotImplementedError
