"""What a budget algorithm is: typed parameters and one pure ``split`` of a budget over nodes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from joulie.core.budget import NodePower, Split


class BudgetParams(BaseModel):
    """Base of every algorithm's parameters: camelCase as in the CR, typed, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


P = TypeVar("P", bound=BudgetParams)


class BudgetAlgorithm(Generic[P]):
    """``customAlgorithm.name`` selects one; ``customAlgorithm.parameters`` are validated by ``params_model``."""

    name: ClassVar[str]
    params_model: ClassVar[type[BudgetParams]]
    description: ClassVar[str]

    def __init__(self, params: P) -> None:
        self.params = params

    def split(self, nodes: Sequence[NodePower], budget_watts: float) -> Split:  # pragma: no cover - interface
        raise NotImplementedError

    def steered(self, nodes: Sequence[NodePower]) -> frozenset[str]:
        """Nodes that should take no new eco or general work (the extender filters them); none by default."""
        return frozenset()

    @property
    def steer_seconds(self) -> float:
        """How long a steered node keeps its mark."""
        return 0.0
