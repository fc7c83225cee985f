"""``proportional``: every node's share above its floor in proportion to what it wants; no classes."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from joulie.core.budget import NodePower, Split, proportional, split
from labeller.budgets.base import BudgetAlgorithm, BudgetParams


class ProportionalParams(BudgetParams):
    margin_percent: float = Field(default=10.0, ge=0, le=100)


class ProportionalSplit(BudgetAlgorithm[ProportionalParams]):
    name = "proportional"
    params_model = ProportionalParams
    description = "floors first, then every node the same fraction of what it wants; performance is not served first"

    def split(self, nodes: Sequence[NodePower], budget_watts: float) -> Split:
        return split(nodes, budget_watts, margin=self.params.margin_percent / 100, priorities=False, fill=proportional)
