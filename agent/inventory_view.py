"""``joulie agent --inventory`` as a table: what a node supports, for writing profiles that work."""

from __future__ import annotations

from joulie.api.v1alpha1 import NodeCapabilities


def _or_none(values: list[str] | None) -> str:
    return " ".join(values) if values else "none"


def inventory_table(caps: NodeCapabilities, root: str) -> str:
    freq = caps.frequency
    lines = [
        f"sysfs root: {root}",
        f"CPUs: {caps.cpus}",
        f"scaling driver: {caps.scaling_driver or 'none (no cpufreq)'}",
        f"frequency (spec.cpu.frequency): {f'{freq.min_mhz}-{freq.max_mhz} MHz' if freq else 'none'}",
    ]
    if caps.available_frequencies_mhz:
        lines.append(f"  listed frequencies: {' '.join(str(f) for f in caps.available_frequencies_mhz)} MHz")
    lines += [
        f"governors (spec.cpu.governor): {_or_none(caps.governors)}",
        f"EPP (spec.cpu.epp): {_or_none(caps.epp)}",
        f"cpuidle driver: {caps.cpuidle_driver or 'none'}",
        "C-states (spec.cpu.cstates):" + ("" if caps.cstates else " none"),
    ]
    for state in caps.cstates or []:
        desc = f"  {state.description}" if state.description else ""
        lines.append(f"  {state.name:<8} latency {state.latency_us:>5} us{desc}")
    lines.append("uncore (spec.cpu.uncore):" + ("" if caps.uncore else " none"))
    for die in caps.uncore or []:
        lines.append(f"  {die.die}  {die.min_mhz}-{die.max_mhz} MHz")
    lines.append("RAPL package zones (spec.cpu.packagePowerCap*):" + ("" if caps.rapl_zones else " none"))
    for zone in caps.rapl_zones or []:
        top = "no maximum" if zone.max_watts is None else f"max {zone.max_watts:g} W"
        lines.append(f"  {zone.zone:<14} {zone.name:<10} {top}, {'writable' if zone.writable else 'read-only'}")
    return "\n".join(lines)
