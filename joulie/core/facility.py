"""Facility telemetry as the decisions read it: typed readings with an expiry, and the read interface.

The collectors (:mod:`joulie.facility`) fetch inlet temperature (Redfish),
differential pressure (the ΔP API) and power predictions in the background and
publish them through :class:`FacilityReadings`. Every consumer reads that one view:
the extender's power-aware score (:mod:`extender.power`) and the rack thermal
limits of the power budget. One source of thermal truth: nothing else fetches an
inlet temperature.

No clock here: a reading carries the wall time it was observed and the time it
turns stale (observed + the source's TTL); callers pass ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from joulie.core.power import PowerCurve


class Quantity(str, Enum):
    """What a source measures or predicts (also the ``source`` label of the metrics)."""

    INLET_TEMP = "inletTemp"
    DELTA_P = "deltaP"
    POWER = "powerConsumption"


UNITS: Mapping[Quantity, str] = {Quantity.INLET_TEMP: "Cel", Quantity.DELTA_P: "Pa", Quantity.POWER: "W"}


@dataclass(frozen=True, slots=True)
class Reading:
    """One value from one source for one node."""

    value: float
    observed_at: float
    """Wall-clock seconds (Unix time) when the value was fetched."""
    stale_at: float
    """Wall-clock seconds after which the value no longer counts (observed + TTL)."""
    source: str
    """Where it came from, for humans: ``redfish:/redfish/v1/Chassis/1/Thermal#Temperatures/0``, ``fake``, ..."""

    def fresh(self, now: float) -> bool:
        return now < self.stale_at

    def age(self, now: float) -> float:
        return max(0.0, now - self.observed_at)


@dataclass(frozen=True, slots=True)
class CurveReading:
    """A node's predicted power curve and when it was computed (from which inputs)."""

    curve: PowerCurve
    observed_at: float
    stale_at: float
    source: str
    """``parametric``, ``fake`` or the V2 endpoint's model path."""
    inputs: tuple[Quantity, ...] = ()
    """Readings the curve was predicted from (V2: inlet temperature and ΔP when configured)."""

    def fresh(self, now: float) -> bool:
        return now < self.stale_at


@dataclass(frozen=True, slots=True)
class NodeFacility:
    """The latest readings of one node (``None``: not configured, or never read successfully)."""

    inlet_temp: Reading | None = None
    delta_p: Reading | None = None
    power: CurveReading | None = None


class ThermalReadings(Protocol):
    """The small interface the power budget's rack thermal limits read inlet temperatures through."""

    def inlet_temperature(self, node: str, now: float) -> Reading | None:
        """The node's inlet temperature if fresh at ``now``, else ``None``."""
        ...


class FacilityReadings(ThermalReadings, Protocol):
    """Everything the collectors publish.

    ``version`` bumps when the set of configured nodes changes, a power curve changes,
    or a reading turns fresh; a fresh reading turning stale is seen through its
    ``stale_at`` (:func:`next_expiry`), so refreshing a value changes nothing.
    """

    @property
    def version(self) -> int: ...

    def node(self, name: str) -> NodeFacility | None:
        """The node's readings; ``None`` when no template configures the node."""
        ...

    def nodes(self) -> Mapping[str, NodeFacility]:
        """A consistent copy of every node's readings."""
        ...


class UsageReadings(Protocol):
    """Measured CPU usage per node (the resource metrics API); ``version`` bumps with every new sample."""

    @property
    def version(self) -> int: ...

    def cpu_usage_millis(self, node: str, now: float) -> float | None:
        """Millicores in use if the sample is fresh at ``now``, else ``None``."""
        ...


def fresh_curve(facility: NodeFacility | None, now: float) -> PowerCurve | None:
    """The node's power curve if it and every reading it was predicted from are fresh.

    A parametric or fake curve depends on no reading; a V2 prediction made at an inlet
    temperature that has since turned stale does not count.
    """
    if facility is None or facility.power is None or not facility.power.fresh(now):
        return None
    for quantity in facility.power.inputs:
        reading = facility.inlet_temp if quantity is Quantity.INLET_TEMP else facility.delta_p
        if reading is None or not reading.fresh(now):
            return None
    return facility.power.curve


def next_expiry(facility: NodeFacility, now: float) -> float:
    """The earliest time one of the node's fresh readings turns stale (``inf`` when none will)."""
    times = [r.stale_at for r in (facility.inlet_temp, facility.delta_p, facility.power) if r is not None]
    return min((t for t in times if t > now), default=float("inf"))
