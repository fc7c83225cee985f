"""Power budgets in the twin: the PowerCappingPolicy the run enforces, the agents' power reports it
plans from, and the bookkeeping of time and energy over the budget.

The labeller's budget controller (:mod:`labeller.budgets`) runs unchanged: the twin gives it a
policy in a :class:`labeller.budgets.source.PolicyCache` and, every agent interval, writes each
node's ``status.power`` as the node agent does (from the hardware model's operating point:
package, GPU and wall watts, the package cap range and floor). Runs without the budget
(A, B, C) are measured against the same line, to show what the budget prevents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from joulie.api.v1alpha1 import DEFAULT_RACK_LABEL, PCP_KIND, PowerReading
from simulator.hardware import NodeClass, Operating

POLICY_NAME = "simulated-budget"


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    """``--power-budget-watts``, ``--rack-size``, ``--rack-max-watts``."""

    power_budget_watts: float | None = None
    rack_size: int = 0
    """Nodes per rack in name order (0: no racks)."""
    rack_max_watts: float | None = None
    agent_interval_seconds: float = 30.0
    """How often the simulated agents report power (the agent's default ``--interval``)."""
    stale_after_seconds: float = 120.0

    @property
    def enabled(self) -> bool:
        return self.power_budget_watts is not None or self.rack_max_watts is not None


def rack_id(index: int, rack_size: int) -> str:
    return f"rack-{index // rack_size:02d}"


def policy_object(settings: BudgetSettings, racks: Sequence[str], fleet_max_watts: float) -> dict[str, Any]:
    """The PowerCappingPolicy of the run. With only rack limits, the cluster limit is the fleet's
    maximum draw (it never binds)."""
    spec: dict[str, Any] = {
        "powerCapLimit": settings.power_budget_watts or fleet_max_watts,
        "telemetry": {"staleAfterSeconds": settings.stale_after_seconds},
    }
    if settings.rack_max_watts is not None:
        spec["rackConstraints"] = [{"rackId": r, "maxPower": settings.rack_max_watts} for r in racks]
    return {
        "apiVersion": "joulie.io/v1alpha1",
        "kind": PCP_KIND,
        "metadata": {"name": POLICY_NAME, "generation": 1},
        "spec": spec,
    }


def power_reading(cls: NodeClass, op: Operating, at: float) -> PowerReading:
    """What the node's agent would write: RAPL package power and range, NVML power and limits, wall power.

    The package floor is the packages' idle draw: in the model no cap takes a package below it.
    """
    cpu, gpu = cls.cpu, cls.gpu
    return PowerReading(
        measured_at=datetime.fromtimestamp(at, UTC),
        packages=cpu.sockets,
        package_watts=round(op.package_watts, 2),
        package_cap_min_watts=cpu.package_idle_watts,
        package_cap_max_watts=cpu.package_max_watts,
        package_floor_watts=cpu.package_idle_watts,
        gpus=cls.gpus if gpu is not None else 0,
        gpu_watts=round(op.gpu_watts, 2) if gpu is not None else None,
        gpu_cap_min_watts=gpu.min_limit_watts if gpu is not None else None,
        gpu_cap_max_watts=gpu.max_limit_watts if gpu is not None else None,
        node_watts=round(op.watts, 2),
    )


@dataclass
class OverBudget:
    """Time and energy above a limit, from mean watts per step; and the longest stretch above it."""

    limit_watts: float
    seconds: float = 0.0
    joules: float = 0.0
    longest_seconds: float = 0.0
    _stretch: float = 0.0

    def add(self, watts: float, dt: float) -> None:
        if watts > self.limit_watts + 1e-6:
            self.seconds += dt
            self.joules += (watts - self.limit_watts) * dt
            self._stretch += dt
            self.longest_seconds = max(self.longest_seconds, self._stretch)
        else:
            self._stretch = 0.0

    @property
    def kwh(self) -> float:
        return self.joules / 3.6e6


@dataclass
class BudgetLedger:
    """Over-budget bookkeeping of one run: the cluster limit and each rack's."""

    cluster: OverBudget | None
    racks: dict[str, OverBudget] = field(default_factory=dict)

    @classmethod
    def for_settings(cls, settings: BudgetSettings, racks: Sequence[str]) -> BudgetLedger:
        cluster = OverBudget(settings.power_budget_watts) if settings.power_budget_watts is not None else None
        limit = settings.rack_max_watts
        return cls(cluster, {r: OverBudget(limit) for r in racks} if limit is not None else {})

    def add(self, cluster_watts: float, rack_watts: Mapping[str, float], dt: float) -> None:
        if self.cluster is not None:
            self.cluster.add(cluster_watts, dt)
        for rack, ledger in self.racks.items():
            ledger.add(rack_watts.get(rack, 0.0), dt)

    def summary(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.cluster is not None:
            out.update(
                over_budget_seconds=round(self.cluster.seconds, 1),
                over_budget_kwh=round(self.cluster.kwh, 3),
                over_budget_longest_seconds=round(self.cluster.longest_seconds, 1),
            )
        if self.racks:
            out.update(
                rack_over_budget_seconds=round(sum(r.seconds for r in self.racks.values()), 1),
                rack_over_budget_kwh=round(sum(r.kwh for r in self.racks.values()), 3),
                rack_over_budget_longest_seconds=round(max(r.longest_seconds for r in self.racks.values()), 1),
            )
        return out


__all__ = [
    "DEFAULT_RACK_LABEL",
    "POLICY_NAME",
    "BudgetLedger",
    "BudgetSettings",
    "OverBudget",
    "policy_object",
    "power_reading",
    "rack_id",
]
