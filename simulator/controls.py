"""What the CPU controls beyond the cap do to a simulated node: the baseline and the profile's settings.

A node's settings start from the fleet's **baseline** (how unmanaged nodes are configured) and
the NodePowerProfile's ``spec.cpu`` controls change them, as the agent would. Only effects with
a published source are modelled (``docs/simulator.md``, "Controls beyond the cap"); the others
are carried through but cost and save nothing:

- **uncore pinned high** (min = max = the highest uncore frequency, common in "maximum
  performance" server profiles) adds ``CpuModel.uncore_pinned_watts`` per socket at idle,
  shrinking linearly to nothing at full load, where the uncore runs at its maximum anyway;
- **deep C-states limited** adds ``CpuModel.cstates_limited_watts`` per socket the same way
  (zero by default: no published measurement for the default CPU was found);
- **a frequency ceiling** (``frequency.maxMHz``/``maxPct``) caps the relative core frequency,
  with the same ``g(f)`` power law as a package cap: the lower of the two maxima wins;
- **EPP and the governor** have no modelled effect (their effect depends on the workload's
  phase behaviour and was not found measured for the default CPU).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.hardware import CpuModel, NodeSettings


class Baseline(str, enum.Enum):
    """How the fleet's nodes are set when nobody manages them."""

    OS_DEFAULTS = "os-defaults"
    """Linux defaults: every C-state enabled, uncore scaling on, EPP balance_performance."""
    MAX_PERFORMANCE = "max-performance"
    """A maximum-performance server profile: deep C-states disabled, uncore pinned at its
    maximum, EPP performance (set by the OS, e.g. a tuning profile, so the agent can undo it)."""

    @property
    def description(self) -> str:
        return {
            Baseline.OS_DEFAULTS: "OS defaults (C-states and uncore scaling on, EPP balance_performance)",
            Baseline.MAX_PERFORMANCE: "maximum-performance profile (deep C-states off, uncore pinned high, "
            "EPP performance)",
        }[self]


BASELINE_SETTINGS: Mapping[Baseline, NodeSettings] = {
    Baseline.OS_DEFAULTS: NodeSettings(),
    Baseline.MAX_PERFORMANCE: NodeSettings(uncore_pinned=True, cstates_limited=True, epp="performance"),
}

DEEP_CSTATE = "C6"
"""The deep core C-state the model's idle power assumes (Intel C6; its exit latency is CpuModel.deep_cstate_latency_us)."""


@dataclass(frozen=True, slots=True)
class _Range:
    min_mhz: float | None
    max_mhz: float | None


def _range(spec: Any, lo_mhz: float, hi_mhz: float) -> _Range | None:
    """An API range (``{minMHz,maxMHz}`` or ``{minPct,maxPct}``) in MHz over [lo, hi]."""
    if not isinstance(spec, Mapping):
        return None

    def pick(mhz_key: str, pct_key: str) -> float | None:
        if spec.get(mhz_key) is not None:
            return float(spec[mhz_key])
        if spec.get(pct_key) is not None:
            return lo_mhz + float(spec[pct_key]) / 100.0 * (hi_mhz - lo_mhz)
        return None

    return _Range(pick("minMHz", "minPct"), pick("maxMHz", "maxPct"))


def settings_for(cpu: CpuModel, baseline: Baseline, spec_cpu: Mapping[str, Any] | None) -> NodeSettings:
    """The node's settings once the agent applied ``spec.cpu`` (wire form) on top of the baseline."""
    base = BASELINE_SETTINGS[baseline]
    if not spec_cpu:
        return base
    uncore_pinned, cstates_limited, ceiling, epp = base.uncore_pinned, base.cstates_limited, 1.0, base.epp
    uncore = _range(spec_cpu.get("uncore"), cpu.uncore_min_mhz, cpu.uncore_max_mhz)
    if uncore is not None:
        low = uncore.min_mhz if uncore.min_mhz is not None else (cpu.uncore_max_mhz if uncore_pinned else None)
        high = uncore.max_mhz if uncore.max_mhz is not None else cpu.uncore_max_mhz
        uncore_pinned = low is not None and low >= min(high, cpu.uncore_max_mhz)
    cstates = spec_cpu.get("cstates")
    if isinstance(cstates, Mapping):
        names = cstates.get("names") or {}
        if DEEP_CSTATE in names:
            cstates_limited = not names[DEEP_CSTATE]
        limit = cstates.get("maxLatencyUs")
        if limit is not None and cpu.deep_cstate_latency_us > limit:
            cstates_limited = True
    freq = _range(spec_cpu.get("frequency"), cpu.min_mhz, cpu.max_turbo_mhz)
    if freq is not None and freq.max_mhz is not None:
        ceiling = min(1.0, max(cpu.min_mhz, freq.max_mhz) / cpu.all_core_turbo_mhz)
    if spec_cpu.get("epp") is not None:
        epp = spec_cpu["epp"]
    return NodeSettings(
        uncore_pinned=uncore_pinned,
        cstates_limited=cstates_limited,
        freq_ceiling=round(ceiling, 6),
        epp=epp if isinstance(epp, str | int) else None,
    )
