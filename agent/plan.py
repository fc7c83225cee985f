"""Pure planning: from a NodePowerProfile spec and the hardware's limits to exact writes.

No I/O here. Every function either returns the writes (targets in the hardware's own
units: microwatts, kHz, milliwatts) or raises :class:`Refusal` with a reason a user can
act on. Nothing is written for a refused profile, so a bad profile never leaves a node
half-capped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from agent.inventory import CpuFreq, GpuDevice, Inventory, RaplZone
from agent.state import Value
from joulie.api.v1alpha1 import CpuCap, GpuPowerCap

# RAPL limits are stored in power units of 1/8 W or finer; a read-back within this
# distance of the target is the value we wrote, not a firmware revert.
RAPL_TOLERANCE_UW = 125_000


class Refusal(Exception):
    """The profile cannot be applied as asked; ``reason`` is a Condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Limits:
    """How the agent treats caps outside what the hardware accepts."""

    min_cap_pct: float = 10.0
    """Floor (percent of the maximum) when the hardware exposes no minimum: RAPL
    has none, and a cap far below the package's idle power stalls the node."""
    min_cap_watts: float = 10.0
    """Absolute floor per package when the hardware reports neither a minimum nor a maximum."""
    strict: bool = False
    """Refuse caps above the maximum instead of clamping them to it."""
    package_max_watts: float | None = None
    """Reference package power for DVFS when RAPL does not report one (VMs)."""


@dataclass(frozen=True)
class Write:
    """Set ``key`` of ``channel`` (``sysfs`` or ``nvml``) to ``value``.

    A read-back within ``tolerance`` (integers) or equal to one of ``accept`` (what the
    kernel shows for the value written, e.g. ``balance_power`` after writing EPP 192) is
    the value written.
    """

    channel: Literal["sysfs", "nvml"]
    key: str
    value: Value
    tolerance: int = 0
    accept: frozenset[Value] = frozenset()

    def matches(self, current: Value) -> bool:
        if isinstance(current, int) and isinstance(self.value, int):
            return abs(current - self.value) <= self.tolerance
        return current == self.value or current in self.accept


@dataclass
class CpuPlan:
    backend: Literal["rapl", "dvfs", "http", "none"]
    writes: list[Write] = field(default_factory=list)
    packages: list[tuple[str, float]] = field(default_factory=list)  # (zone, watts)
    cap_watts: float | None = None
    max_freq_khz: int | None = None
    max_targets: dict[int, int] = field(default_factory=dict)
    """DVFS: scaling_max_freq per policy (the frequency control keeps below it)."""
    throttle_pct: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class GpuPlan:
    backend: Literal["nvml", "http", "none"]
    writes: list[Write] = field(default_factory=list)
    cap_watts_per_gpu: float | None = None
    gpus: int = 0
    notes: list[str] = field(default_factory=list)


def _fmt_w(watts: float) -> str:
    return f"{watts:g} W"


def check_cpu_request(cap: CpuCap) -> None:
    """Reject values that are wrong whatever the hardware (zero, negative, >100 %)."""
    if cap.package_power_cap_watts is not None and cap.package_power_cap_watts <= 0:
        raise Refusal("InvalidCap", f"packagePowerCapWatts must be positive, got {cap.package_power_cap_watts:g}")
    pct = cap.package_power_cap_pct_of_max
    if cap.package_power_cap_watts is None and pct is not None and not 0 < pct <= 100:
        raise Refusal("InvalidCap", f"packagePowerCapPctOfMax must be in (0, 100], got {pct:g}")


def _bounded(
    target: float, lo: float | None, hi: float | None, what: str, unit: float, limits: Limits, notes: list[str]
) -> float:
    """Clamp ``target`` to ``hi`` (or refuse when strict); refuse below ``lo``."""
    if hi is not None and target > hi:
        if limits.strict:
            raise Refusal(
                "CapAboveMaximum", f"{_fmt_w(target / unit)} is above the maximum {_fmt_w(hi / unit)} of {what}"
            )
        notes.append(f"{what}: {_fmt_w(target / unit)} clamped to the maximum {_fmt_w(hi / unit)}")
        return hi
    if lo is not None and target < lo:
        raise Refusal("CapBelowMinimum", f"{_fmt_w(target / unit)} is below the minimum {_fmt_w(lo / unit)} of {what}")
    return target


def _zone_floor_uw(zone: RaplZone, limits: Limits) -> int:
    """The lowest cap a zone accepts: the hardware minimum, else a share of its maximum, else an absolute floor."""
    if zone.min_power_uw:
        return zone.min_power_uw
    if zone.max_power_uw:
        return math.ceil(zone.max_power_uw * limits.min_cap_pct / 100)
    return math.ceil(limits.min_cap_watts * 1e6)


def plan_rapl(cap: CpuCap, inv: Inventory, limits: Limits) -> CpuPlan:
    """Per-package constraint_0 limits, clamped to each zone; sub-zones are never touched."""
    check_cpu_request(cap)
    if inv.rapl_problems:
        raise Refusal("HardwareUnreadable", "; ".join(inv.rapl_problems))
    plan = CpuPlan(backend="rapl")
    for zone in inv.packages:
        what = f"{zone.zone} ({zone.name})"
        if cap.package_power_cap_watts is not None:
            target = cap.package_power_cap_watts * 1e6
        elif cap.package_power_cap_pct_of_max is not None:
            if not zone.max_power_uw:
                raise Refusal(
                    "NoMaximum",
                    f"{what} reports no constraint_0_max_power_uw, "
                    "so packagePowerCapPctOfMax cannot be converted to watts",
                )
            target = zone.max_power_uw * cap.package_power_cap_pct_of_max / 100
        else:
            continue
        uw = round(_bounded(target, _zone_floor_uw(zone, limits), zone.max_power_uw, what, 1e6, limits, plan.notes))
        plan.writes.append(Write("sysfs", zone.limit_file, uw, RAPL_TOLERANCE_UW))
        if zone.enabled is False:
            # A disabled zone ignores its limit; enabling it is part of applying the cap.
            plan.writes.append(Write("sysfs", zone.enabled_file, 1))
        plan.packages.append((zone.zone, uw / 1e6))
    if plan.packages:
        plan.cap_watts = min(w for _, w in plan.packages)
    return plan


def cap_fraction(cap: CpuCap, reference_watts: float | None, limits: Limits, notes: list[str]) -> float:
    """Fraction of the package maximum the cap allows, in [min_cap_pct/100, 1]."""
    check_cpu_request(cap)
    if cap.package_power_cap_watts is not None:
        if not reference_watts:
            raise Refusal(
                "NoMaximum",
                "packagePowerCapWatts needs the package maximum power to pick a frequency; "
                "RAPL reports none here, set --package-max-watts or use packagePowerCapPctOfMax",
            )
        frac = cap.package_power_cap_watts / reference_watts
        what = f"the package maximum {_fmt_w(reference_watts)}"
    else:
        assert cap.package_power_cap_pct_of_max is not None
        frac = cap.package_power_cap_pct_of_max / 100
        what = "100 % of the package maximum"
    if frac > 1:
        if limits.strict:
            raise Refusal("CapAboveMaximum", f"{_fmt_w(cap.package_power_cap_watts or 0)} is above {what}")
        notes.append(f"cap above {what}: frequency left at the hardware maximum")
        return 1.0
    if frac < limits.min_cap_pct / 100:
        raise Refusal(
            "CapBelowMinimum",
            f"the cap is {frac * 100:.1f} % of the package maximum, below the {limits.min_cap_pct:g} % floor",
        )
    return frac


def frequency_for_fraction(frac: float, cpu: CpuFreq) -> int:
    """``cpuinfo_min + f * (cpuinfo_max - cpuinfo_min)`` in kHz, snapped down to a listed frequency."""
    lo, hi = cpu.cpuinfo_min_khz, cpu.cpuinfo_max_khz
    target = max(lo, round(lo + frac * (hi - lo)))
    if cpu.available_khz:
        below = [f for f in cpu.available_khz if f <= target]
        target = max(below) if below else min(cpu.available_khz)
    return target


def ordered_min_max(min_key: str, max_key: str, cur_min: int, cur_max: int, new_min: int, new_max: int) -> list[Write]:
    """Writes moving (min, max) to (new_min, new_max) with min <= max after every step.

    The maximum moves first, then the minimum, unless the new maximum is below the current
    minimum: then the minimum must come down first. Unchanged values are not written.
    """
    order = [(max_key, cur_max, new_max), (min_key, cur_min, new_min)]
    if new_max < cur_min:
        order.reverse()
    return [Write("sysfs", key, new) for key, cur, new in order if cur != new]


def plan_dvfs(cap: CpuCap, inv: Inventory, limits: Limits, ceilings: Mapping[int, int] | None = None) -> CpuPlan:
    """``scaling_max_freq`` on every CPU for the cap fraction; lowers ``scaling_min_freq`` only if needed.

    ``ceilings`` are the maxima ``spec.cpu.frequency`` asks for, per policy: the lower of the
    two maxima wins, so the cap and the frequency control never fight over the file.
    """
    if inv.cpu_problems:
        raise Refusal("HardwareUnreadable", "; ".join(inv.cpu_problems))
    plan = CpuPlan(backend="dvfs")
    reference = inv.package_max_watts() or limits.package_max_watts
    frac = cap_fraction(cap, reference, limits, plan.notes)
    targets = []
    lowered = 0
    for cpu in inv.cpus:
        target = frequency_for_fraction(frac, cpu)
        ceiling = (ceilings or {}).get(cpu.cpu)
        if ceiling is not None and ceiling < target:
            target, lowered = ceiling, lowered + 1
        targets.append(target)
        plan.max_targets[cpu.cpu] = target
        new_min = min(cpu.scaling_min_khz, target)
        plan.writes += ordered_min_max(
            cpu.min_file, cpu.max_file, cpu.scaling_min_khz, cpu.scaling_max_khz, new_min, target
        )
    if lowered:
        plan.notes.append(f"spec.cpu.frequency's lower maximum wins on {lowered} CPU(s)")
    plan.max_freq_khz = max(targets) if targets else None
    plan.throttle_pct = round((1 - frac) * 100, 1)
    plan.cap_watts = round(frac * reference, 3) if reference else None
    return plan


def plan_gpu(cap: GpuPowerCap, gpus: list[GpuDevice], limits: Limits) -> GpuPlan:
    """Per-GPU power limit in mW within NVML's constraints (min and max are real here)."""
    plan = GpuPlan(backend="nvml", gpus=len(gpus))
    if cap.cap_watts_per_gpu is not None and cap.cap_watts_per_gpu <= 0:
        raise Refusal("InvalidCap", f"capWattsPerGpu must be positive, got {cap.cap_watts_per_gpu:g}")
    applied = []
    for gpu in gpus:
        what = f"GPU {gpu.index} ({gpu.name})"
        if cap.cap_watts_per_gpu is not None:
            target = cap.cap_watts_per_gpu * 1000
        elif cap.cap_pct_of_max is not None:
            target = gpu.max_mw * cap.cap_pct_of_max / 100
        else:
            continue
        mw = round(_bounded(target, gpu.min_mw, gpu.max_mw, what, 1000, limits, plan.notes))
        plan.writes.append(Write("nvml", gpu.uuid, mw))
        applied.append(mw / 1000)
    if applied:
        plan.cap_watts_per_gpu = min(applied)
    return plan
