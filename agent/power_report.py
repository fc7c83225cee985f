"""The node's power, as the budgets read it: one :class:`PowerReading` per pass in the status.

What the caps govern is package power (RAPL energy counters) and GPU board power (NVML);
what they can do is bounded by each package's lowest and highest cap and each GPU's power
limit constraints. Below the lowest cap, a package still draws its idle power: the least
a package has been seen to draw since the agent started stands for that floor, so a budget
never counts on watts no cap can remove.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agent.inventory import GpuDevice, Inventory
from agent.plan import Limits, _zone_floor_uw
from agent.telemetry import Sample
from joulie.api.v1alpha1 import PowerReading


class PowerReporter:
    """Remembers the least each package drew; builds the reading of each pass."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._least: dict[str, float] = {}

    def reading(self, sample: Sample, inv: Inventory, gpus: Sequence[GpuDevice], now: datetime) -> PowerReading | None:
        """``None`` until there is something measured to report (RAPL needs two samples)."""
        packages = inv.packages
        measured = {z.zone: sample.package_watts[z.zone] for z in packages if z.zone in sample.package_watts}
        for zone, watts in measured.items():
            self._least[zone] = min(watts, self._least.get(zone, watts))
        if not measured and not sample.gpu_watts:
            return None
        maxima = [z.max_power_uw / 1e6 for z in packages if z.max_power_uw]
        minima = [_zone_floor_uw(z, self.limits) / 1e6 for z in packages]
        least = [self._least[z.zone] for z in packages if z.zone in self._least]
        return PowerReading(
            measured_at=now,
            packages=len(packages),
            package_watts=round(sum(measured.values()), 2) if measured else None,
            package_cap_min_watts=max(minima) if minima else None,
            package_cap_max_watts=min(maxima) if maxima else None,
            package_floor_watts=round(max(least), 2) if least else None,
            gpus=len(gpus),
            gpu_watts=round(sum(sample.gpu_watts.values()), 2) if sample.gpu_watts else None,
            gpu_cap_min_watts=max(g.min_mw for g in gpus) / 1000 if gpus else None,
            gpu_cap_max_watts=min(g.max_mw for g in gpus) / 1000 if gpus else None,
        )
