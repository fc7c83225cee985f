"""What the node's power interfaces report: RAPL powercap zones and cpufreq policies.

Discovery reads, never writes. An attribute that cannot be parsed is reported as a
problem of its zone or CPU, so the planner can refuse instead of guessing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from agent.sysfs import Sysfs, SysfsError

POWERCAP = "class/powercap"
CPU_DIR = "devices/system/cpu"

# Top-level RAPL zones are ``intel-rapl:N`` (AMD CPUs use the same driver name);
# ``intel-rapl:N:M`` are core/uncore/dram sub-zones and never get a package cap.
_TOP_ZONE = re.compile(r"^intel-rapl:(\d+)$")
_SUB_ZONE = re.compile(r"^intel-rapl:(\d+):(\d+)$")
_CPU = re.compile(r"^cpu(\d+)$")


@dataclass(frozen=True)
class RaplZone:
    """One powercap zone. Power values are microwatts, energy microjoules."""

    zone: str  # directory name, e.g. ``intel-rapl:0``
    name: str  # contents of ``name``, e.g. ``package-0`` or ``dram``
    limit_uw: int
    max_power_uw: int | None
    min_power_uw: int | None
    enabled: bool | None
    limit_writable: bool
    has_energy: bool

    @property
    def dir(self) -> str:
        return f"{POWERCAP}/{self.zone}"

    @property
    def limit_file(self) -> str:
        return f"{self.dir}/constraint_0_power_limit_uw"

    @property
    def enabled_file(self) -> str:
        return f"{self.dir}/enabled"

    @property
    def is_package(self) -> bool:
        return bool(_TOP_ZONE.match(self.zone)) and self.name.startswith("package")


@dataclass(frozen=True)
class CpuFreq:
    """One CPU's cpufreq policy. Frequencies are kHz, as sysfs has them."""

    cpu: int
    cpuinfo_min_khz: int
    cpuinfo_max_khz: int
    scaling_min_khz: int
    scaling_max_khz: int
    available_khz: tuple[int, ...] | None
    writable: bool

    @property
    def dir(self) -> str:
        return f"{CPU_DIR}/cpu{self.cpu}/cpufreq"

    @property
    def min_file(self) -> str:
        return f"{self.dir}/scaling_min_freq"

    @property
    def max_file(self) -> str:
        return f"{self.dir}/scaling_max_freq"


@dataclass
class Inventory:
    """Everything discovery found, plus what it could not read (``*_problems``)."""

    zones: list[RaplZone] = field(default_factory=list)
    cpus: list[CpuFreq] = field(default_factory=list)
    rapl_problems: list[str] = field(default_factory=list)
    cpu_problems: list[str] = field(default_factory=list)

    @property
    def packages(self) -> list[RaplZone]:
        return [z for z in self.zones if z.is_package]

    @property
    def rapl_writable(self) -> bool:
        pk = self.packages
        return bool(pk) and all(z.limit_writable for z in pk)

    def package_max_watts(self) -> float | None:
        """Largest package maximum reported by RAPL (the reference for DVFS fractions)."""
        maxes = [z.max_power_uw for z in self.packages if z.max_power_uw]
        return max(maxes) / 1e6 if maxes else None


def _optional_int(fs: Sysfs, rel: str) -> int | None:
    return fs.read_int(rel) if fs.exists(rel) else None


def _zone_sort_key(zone: str) -> tuple[int, ...]:
    return tuple(int(x) for x in zone.split(":")[1:])


def discover_rapl(fs: Sysfs, inv: Inventory) -> None:
    base = fs.path(POWERCAP)
    if not base.is_dir():
        return
    names = [n for n in os.listdir(base) if _TOP_ZONE.match(n) or _SUB_ZONE.match(n)]
    for zone in sorted(names, key=_zone_sort_key):
        d = f"{POWERCAP}/{zone}"
        try:
            name = fs.read(f"{d}/name") if fs.exists(f"{d}/name") else zone
            if not fs.exists(f"{d}/constraint_0_power_limit_uw"):
                continue  # a zone with energy counters only: nothing to cap
            enabled = _optional_int(fs, f"{d}/enabled")
            inv.zones.append(
                RaplZone(
                    zone=zone,
                    name=name,
                    limit_uw=fs.read_int(f"{d}/constraint_0_power_limit_uw"),
                    max_power_uw=_optional_int(fs, f"{d}/constraint_0_max_power_uw") or None,
                    min_power_uw=_optional_int(fs, f"{d}/constraint_0_min_power_uw"),
                    enabled=None if enabled is None else bool(enabled),
                    limit_writable=fs.writable(f"{d}/constraint_0_power_limit_uw"),
                    has_energy=fs.exists(f"{d}/energy_uj"),
                )
            )
        except SysfsError as exc:
            if _TOP_ZONE.match(zone):
                inv.rapl_problems.append(f"RAPL zone {zone}: {exc.strerror or exc}")


def discover_cpufreq(fs: Sysfs, inv: Inventory) -> None:
    base = fs.path(CPU_DIR)
    if not base.is_dir():
        return
    seen: set[str] = set()
    cpus = sorted(int(m.group(1)) for n in os.listdir(base) if (m := _CPU.match(n)))
    for cpu in cpus:
        d = f"{CPU_DIR}/cpu{cpu}/cpufreq"
        if not fs.path(d).is_dir():
            continue
        real = os.path.realpath(fs.path(d))
        if real in seen:
            continue  # CPUs sharing one policy directory: write it once
        seen.add(real)
        try:
            avail_rel = f"{d}/scaling_available_frequencies"
            avail = tuple(sorted(fs.read_ints(avail_rel))) if fs.exists(avail_rel) else None
            inv.cpus.append(
                CpuFreq(
                    cpu=cpu,
                    cpuinfo_min_khz=fs.read_int(f"{d}/cpuinfo_min_freq"),
                    cpuinfo_max_khz=fs.read_int(f"{d}/cpuinfo_max_freq"),
                    scaling_min_khz=fs.read_int(f"{d}/scaling_min_freq"),
                    scaling_max_khz=fs.read_int(f"{d}/scaling_max_freq"),
                    available_khz=avail or None,
                    writable=fs.writable(f"{d}/scaling_max_freq") and fs.writable(f"{d}/scaling_min_freq"),
                )
            )
        except SysfsError as exc:
            inv.cpu_problems.append(f"cpufreq of cpu{cpu}: {exc.strerror or exc}")


def discover(fs: Sysfs) -> Inventory:
    """Read every RAPL zone and cpufreq policy under the sysfs root."""
    inv = Inventory()
    discover_rapl(fs, inv)
    discover_cpufreq(fs, inv)
    return inv


@dataclass(frozen=True)
class GpuDevice:
    """One GPU as NVML reports it. Power values are milliwatts, as NVML has them."""

    index: int
    uuid: str
    name: str
    limit_mw: int
    min_mw: int
    max_mw: int
    default_mw: int | None = None
