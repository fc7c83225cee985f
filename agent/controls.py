"""Pure planning of the CPU controls beyond the cap: governor, EPP, frequency, C-states, uncore.

Each control is planned on its own into a :class:`ControlPlan`: the exact writes (in the
order the kernel needs them), what the control owns on this node, and either nothing
wrong or a result (``failed`` / ``unsupported``) with a message an operator can act on.
The engine applies each plan in its own transaction, so one refused control never undoes
the others. No I/O here: the inventory and the saved originals come in as arguments.

Where a control leaves a value unrequested (a range with only a maximum, a C-state that
``names`` does not mention) the node's *original* value is kept, not whatever an earlier
profile wrote: removing a setting from a profile puts the machine back as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.inventory import CpuFreq, Inventory
from agent.plan import Write, ordered_min_max
from agent.state import Value
from joulie.api.v1alpha1 import ControlName, ControlResult, CStates, FrequencyRange

UNCORE_STEP_KHZ = 100_000
"""The uncore driver stores ratios of 100 MHz and reads back the floored value."""

INTEL_EPP = {"performance": 0, "balance_performance": 128, "balance_power": 192, "power": 255}
"""intel_pstate's named EPP values; it shows a raw value as its name when one matches."""


@dataclass
class ControlPlan:
    name: ControlName
    requested: str
    writes: list[Write] = field(default_factory=list)
    owned: set[str] = field(default_factory=set)
    """Files this control drives on this node (held as they are while the control is requested)."""
    result: ControlResult | None = None
    """Set when the control cannot be applied as planned (``failed``, ``unsupported``)."""
    message: str = ""
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    """What the node will show once applied, e.g. ``powersave on 8 CPUs``."""

    def refuse(self, result: ControlResult, message: str) -> ControlPlan:
        self.result, self.message, self.writes = result, message, []
        return self


def _mhz(khz: int) -> str:
    return f"{khz / 1000:g} MHz"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------- governor


def plan_governor(want: str, inv: Inventory) -> ControlPlan:
    plan = ControlPlan("governor", want)
    cpus = [c for c in inv.cpus if c.governor is not None]
    plan.owned = {c.governor_file for c in cpus}
    if inv.control_problems.get("governor"):
        return plan.refuse("failed", "; ".join(inv.control_problems["governor"]))
    if not cpus:
        return plan.refuse("unsupported", "no cpufreq scaling_governor on this node")
    for c in cpus:
        if c.governors is not None and want not in c.governors:
            return plan.refuse(
                "failed",
                f"governor {want!r} is not available on cpu{c.cpu} "
                f"(scaling_available_governors: {' '.join(c.governors)})",
            )
        plan.writes.append(Write("sysfs", c.governor_file, want))
    plan.summary = f"{want} on {_count(len(cpus), 'policy')}".replace("policys", "policies")
    return plan


# ---------------------------------------------------------------- EPP


def plan_epp(
    want: int | str, inv: Inventory, governors: Mapping[int, str | None], governor_requested: bool = False
) -> ControlPlan:
    """EPP on every policy that has it; ``governors`` is each policy's governor after the governor control.

    intel_pstate pins EPP to ``performance`` under the performance governor and refuses other
    values. When the profile asks for that governor too, the request contradicts itself: failed.
    When the governor is the node's own (the profile leaves it as it is), EPP is skipped, with
    the reason: the node's choice of governor stands.
    """
    plan = ControlPlan("epp", str(want))
    cpus = [c for c in inv.cpus if c.epp is not None]
    plan.owned = {c.epp_file for c in cpus}
    if inv.control_problems.get("epp"):
        return plan.refuse("failed", "; ".join(inv.control_problems["epp"]))
    if not cpus:
        drivers = ", ".join(sorted({c.driver for c in inv.cpus if c.driver})) or "none"
        return plan.refuse(
            "unsupported",
            f"no energy_performance_preference (scaling driver {drivers}): EPP needs intel_pstate or "
            "amd-pstate-epp in active mode",
        )
    if want == "default":
        return plan.refuse(
            "unsupported",
            "epp 'default' reads back as the firmware's value and cannot be verified; leave epp out to keep "
            "the node's own preference",
        )
    for c in cpus:
        accept: set[Value] = set()
        intel = c.driver == "intel_pstate"
        if isinstance(want, int):
            if not intel:
                return plan.refuse(
                    "unsupported",
                    f"raw EPP values need intel_pstate; {c.driver or 'this driver'} takes only the names in "
                    f"energy_performance_available_preferences ({' '.join(c.epp_values or ())})",
                )
            accept |= {n for n, v in INTEL_EPP.items() if v == want}
        else:
            if c.epp_values is not None and want not in c.epp_values:
                return plan.refuse(
                    "failed",
                    f"epp {want!r} is not available on cpu{c.cpu} "
                    f"(energy_performance_available_preferences: {' '.join(c.epp_values)})",
                )
            if intel and want in INTEL_EPP:
                accept.add(INTEL_EPP[want])
        governor = governors.get(c.cpu, c.governor)
        if intel and governor == "performance" and want not in ("performance", 0):
            whose = "requested" if governor_requested else "node's own"
            return plan.refuse(
                "failed" if governor_requested else "skipped",
                f"intel_pstate refuses EPP {want!r} under the performance governor ({whose}, cpu{c.cpu}); it "
                "pins EPP to performance. Set spec.cpu.governor: powersave to use EPP",
            )
        plan.writes.append(Write("sysfs", c.epp_file, want, accept=frozenset(accept)))
    plan.summary = f"{want} on {_count(len(cpus), 'policy')}".replace("policys", "policies")
    return plan


# ---------------------------------------------------------------- ranges


def _as_int(value: Value | None) -> int | None:
    return value if isinstance(value, int) else None


def _range_targets(
    rng: FrequencyRange,
    hw_lo: int,
    hw_hi: int,
    base_min: int,
    base_max: int,
    what: str,
    notes: list[str],
) -> tuple[int, int]:
    """(min, max) kHz for ``rng`` over the hardware range [hw_lo, hw_hi]; bounds not asked keep the base."""

    def pick(mhz: int | None, pct: float | None) -> int | None:
        if mhz is not None:
            return mhz * 1000
        if pct is not None:
            return round(hw_lo + pct / 100 * (hw_hi - hw_lo))
        return None

    def clamp(v: int, bound: str) -> int:
        if v < hw_lo:
            notes.append(f"{bound} {_mhz(v)} raised to the {what} minimum {_mhz(hw_lo)}")
            return hw_lo
        if v > hw_hi:
            notes.append(f"{bound} {_mhz(v)} lowered to the {what} maximum {_mhz(hw_hi)}")
            return hw_hi
        return v

    want_min = pick(rng.min_mhz, rng.min_pct)
    want_max = pick(rng.max_mhz, rng.max_pct)
    lo = clamp(want_min, "minimum") if want_min is not None else base_min
    hi = clamp(want_max, "maximum") if want_max is not None else base_max
    return lo, hi


def _dedup(notes: list[str]) -> list[str]:
    return list(dict.fromkeys(notes))


def frequency_ceilings(rng: FrequencyRange | None, inv: Inventory) -> dict[int, int]:
    """The maximum ``spec.cpu.frequency`` asks for, per policy (for the DVFS cap to respect)."""
    if rng is None or (rng.max_mhz is None and rng.max_pct is None):
        return {}
    out = {}
    for c in inv.cpus:
        _, hi = _range_targets(rng, c.cpuinfo_min_khz, c.cpuinfo_max_khz, 0, c.cpuinfo_max_khz, "", [])
        out[c.cpu] = _snap_down(hi, c)
    return out


def _snap_down(khz: int, c: CpuFreq) -> int:
    if not c.available_khz:
        return khz
    below = [f for f in c.available_khz if f <= khz]
    return max(below) if below else min(c.available_khz)


def _snap_up(khz: int, c: CpuFreq) -> int:
    if not c.available_khz:
        return khz
    above = [f for f in c.available_khz if f >= khz]
    return min(above) if above else max(c.available_khz)


def plan_frequency(
    rng: FrequencyRange,
    inv: Inventory,
    originals: Mapping[str, Value],
    cap_ceilings: Mapping[int, int] | None = None,
) -> ControlPlan:
    """scaling_{min,max}_freq per policy; ``cap_ceilings`` are the DVFS cap's maxima (the lower wins)."""
    plan = ControlPlan("frequency", rng.describe())
    plan.owned = {k for c in inv.cpus for k in (c.min_file, c.max_file)}
    if inv.cpu_problems:
        return plan.refuse("failed", "; ".join(inv.cpu_problems))
    if not inv.cpus:
        return plan.refuse("unsupported", "no cpufreq policy on this node")
    ranges: set[tuple[int, int]] = set()
    capped = 0
    for c in inv.cpus:
        base_min = _as_int(originals.get(c.min_file)) or c.scaling_min_khz
        base_max = _as_int(originals.get(c.max_file)) or c.scaling_max_khz
        lo, hi = _range_targets(rng, c.cpuinfo_min_khz, c.cpuinfo_max_khz, base_min, base_max, "cpuinfo", plan.notes)
        lo, hi = _snap_up(lo, c), _snap_down(hi, c)
        ceiling = (cap_ceilings or {}).get(c.cpu)
        if ceiling is not None and ceiling < hi:
            hi, capped = ceiling, capped + 1
        if lo > hi:
            plan.notes.append(f"minimum {_mhz(lo)} lowered to the maximum {_mhz(hi)} on cpu{c.cpu}")
            lo = hi
        ranges.add((lo, hi))
        plan.writes += ordered_min_max(c.min_file, c.max_file, c.scaling_min_khz, c.scaling_max_khz, lo, hi)
    if capped:
        plan.notes.append(f"the package cap's DVFS maximum is lower and wins on {_count(capped, 'policy')}")
    plan.notes = _dedup(plan.notes)
    shown = ", ".join(f"{lo // 1000}-{hi // 1000} MHz" for lo, hi in sorted(ranges))
    plan.summary = f"{shown} on {_count(len(inv.cpus), 'policy')}".replace("policys", "policies")
    return plan


def plan_uncore(rng: FrequencyRange, inv: Inventory, originals: Mapping[str, Value]) -> ControlPlan:
    """min/max_freq_khz of every package_XX_die_YY, clamped to its initial range, in 100 MHz steps."""
    plan = ControlPlan("uncore", rng.describe())
    plan.owned = {k for u in inv.uncore for k in (u.min_file, u.max_file)}
    if inv.control_problems.get("uncore"):
        return plan.refuse("failed", "; ".join(inv.control_problems["uncore"]))
    if not inv.uncore:
        return plan.refuse(
            "unsupported",
            "no intel_uncore_frequency package_XX_die_YY directory (Intel only; the intel_uncore_frequency "
            "module must be loaded)",
        )
    ranges: set[tuple[int, int]] = set()
    for u in inv.uncore:
        base_min = _as_int(originals.get(u.min_file)) or u.min_khz
        base_max = _as_int(originals.get(u.max_file)) or u.max_khz
        lo, hi = _range_targets(rng, u.initial_min_khz, u.initial_max_khz, base_min, base_max, "uncore", plan.notes)
        lo = max(u.initial_min_khz, lo // UNCORE_STEP_KHZ * UNCORE_STEP_KHZ)
        hi = max(lo, hi // UNCORE_STEP_KHZ * UNCORE_STEP_KHZ)
        ranges.add((lo, hi))
        plan.writes += ordered_min_max(u.min_file, u.max_file, u.min_khz, u.max_khz, lo, hi)
    plan.notes = _dedup(plan.notes)
    shown = ", ".join(f"{lo // 1000}-{hi // 1000} MHz" for lo, hi in sorted(ranges))
    plan.summary = f"{shown} on {_count(len(inv.uncore), 'die')}"
    return plan


# ---------------------------------------------------------------- C-states


POLL = "POLL"


def plan_cstates(cs: CStates, inv: Inventory, originals: Mapping[str, Value]) -> ControlPlan:
    """``disable`` of every cpuidle state: by name, then by latency; POLL is never disabled."""
    plan = ControlPlan("cstates", cs.describe())
    plan.owned = {s.disable_file for s in inv.idle_states}
    if inv.control_problems.get("cstates"):
        return plan.refuse("failed", "; ".join(inv.control_problems["cstates"]))
    if not inv.idle_states:
        return plan.refuse("unsupported", "no cpuidle states on this node (no cpuidle driver, or a VM without one)")
    names = cs.names or {}
    present = {s.name for s in inv.idle_states}
    unknown = sorted(set(names) - present)
    if unknown:
        plan.notes.append(
            f"unknown C-state name(s) {', '.join(unknown)} ignored; this node has {', '.join(sorted(present))}"
        )
    if names.get(POLL) is False:
        plan.notes.append("POLL is never disabled")
    disabled: dict[str, int] = {}
    for s in inv.idle_states:
        original = _as_int(originals.get(s.disable_file))
        want = s.disabled if original is None else original
        if s.name in names and not (s.name == POLL and not names[s.name]):
            want = 0 if names[s.name] else 1
        if cs.max_latency_us is not None and s.latency_us > cs.max_latency_us and s.name != POLL:
            want = 1
        if want:
            disabled[s.name] = disabled.get(s.name, 0) + 1
        if want != s.disabled:
            plan.writes.append(Write("sysfs", s.disable_file, want))
    cpus = len({s.cpu for s in inv.idle_states})
    shown = ", ".join(sorted(disabled, key=lambda n: n)) or "none"
    plan.summary = f"disabled: {shown} on {_count(cpus, 'CPU')}"
    return plan


# ---------------------------------------------------------------- all of them


def plan_controls(
    wanted: Mapping[str, Any], inv: Inventory, originals: Mapping[str, Value], dvfs_max: Mapping[int, int]
) -> list[ControlPlan]:
    """Every control in ``wanted`` (from :meth:`CoreControls.controls`), planned in apply order.

    ``inv`` is the part of the node the controls apply to (the whole node, the shared pool, or one
    container's exclusive cores); ``dvfs_max`` are the package cap's DVFS maxima (the lower wins).
    """
    plans: list[ControlPlan] = []
    governors: dict[int, str | None] = {c.cpu: c.governor for c in inv.cpus}
    for name, value in wanted.items():
        if name == "governor":
            p = plan_governor(value, inv)
            if p.result is None:
                governors = {c.cpu: value for c in inv.cpus}
        elif name == "epp":
            p = plan_epp(value, inv, governors, "governor" in wanted)
        elif name == "frequency":
            p = plan_frequency(value, inv, originals, dvfs_max)
        elif name == "cstates":
            p = plan_cstates(value, inv, originals)
        else:
            p = plan_uncore(value, inv, originals)
        plans.append(p)
    return plans
