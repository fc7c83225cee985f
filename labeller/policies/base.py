"""What a policy is: a pure function from cluster demand to a performance-node target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from joulie.api.labels import Profile
from joulie.core.model import DemandSummary
from joulie.core.rounding import clamp, round_half_away

__all__ = ["DemandSummary", "P", "Policy", "PolicyInput", "PolicyParams", "PolicyResult", "clamp", "round_half_away"]


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
