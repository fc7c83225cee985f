"""``energy-aware-scheduling``: the seed's example algorithm, with the meaning Joulie gives it.

Parameters (the seed's names): ``energyThreshold`` (watts per node) and ``migrationInterval``
(seconds). Pods are never evicted, so "migration" means where *new* work goes:

- an eco or general node drawing more than ``energyThreshold`` is *steered*: the extender
  places no new eco or general pods on it, so new work lands on cooler nodes, and the node
  keeps that mark for ``migrationInterval`` seconds (the labeller records when it was
  steered in the policy's status), so work does not bounce back at the next reconcile;
- its budget share is held at ``energyThreshold`` (its caps come down to keep it there);
- the rest is the default split: performance first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pydantic import Field

from joulie.core.budget import NodePower, Priority, Split, caps_for, split
from labeller.budgets.base import BudgetAlgorithm, BudgetParams


class EnergyAwareParams(BudgetParams):
    energy_threshold: float = Field(gt=0, description="Watts per node above which an eco or general node is steered.")
    migration_interval: float = Field(default=300.0, ge=1, description="Seconds a node stays steered.")
    margin_percent: float = Field(default=10.0, ge=0, le=100)


class EnergyAwareScheduling(BudgetAlgorithm[EnergyAwareParams]):
    name = "energy-aware-scheduling"
    params_model = EnergyAwareParams
    description = (
        "the default split; eco and general nodes above energyThreshold take no new work for migrationInterval"
    )

    def split(self, nodes: Sequence[NodePower], budget_watts: float) -> Split:
        out = split(nodes, budget_watts, margin=self.params.margin_percent / 100)
        threshold = self.params.energy_threshold
        shares = dict(out.shares)
        for node in nodes:
            share = shares[node.name]
            if node.priority is Priority.PERFORMANCE or not node.fresh or share.share_watts <= threshold:
                continue
            held = max(node.floor, threshold)
            shares[node.name] = replace(
                caps_for(node, held),
                reason=f"energy-aware-scheduling: held at {held:.0f} W (energyThreshold {threshold:g} W)",
            )
        return replace(out, shares=shares)

    @property
    def steer_seconds(self) -> float:
        return self.params.migration_interval

    def steered(self, nodes: Sequence[NodePower]) -> frozenset[str]:
        threshold = self.params.energy_threshold
        return frozenset(
            n.name for n in nodes if n.fresh and n.priority is not Priority.PERFORMANCE and n.measured > threshold
        )
