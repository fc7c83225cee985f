"""``default``: performance first, eco and general absorb the cut (see :mod:`joulie.core.budget`)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from joulie.core.budget import NodePower, Split, split
from labeller.budgets.base import BudgetAlgorithm, BudgetParams


class PriorityParams(BudgetParams):
    margin_percent: float = Field(
        default=10.0, ge=0, le=100, description="Head room over its measured draw a node's share gets."
    )


class PrioritySplit(BudgetAlgorithm[PriorityParams]):
    name = "default"
    params_model = PriorityParams
    description = "floors first, then performance nodes up to what they draw (+ margin), then eco and general nodes"

    def split(self, nodes: Sequence[NodePower], budget_watts: float) -> Split:
        return split(nodes, budget_watts, margin=self.params.margin_percent / 100)
