"""What the node's power interfaces report: RAPL zones, cpufreq policies, cpuidle states, uncore dies.

Discovery reads, never writes. An attribute that cannot be parsed is reported as a
problem of its zone, CPU or control, so the planner can refuse instead of guessing; a
value no hardware could report (a package maximum of 1e24 W) is such a problem too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.sysfs import Sysfs, SysfsError
from joulie.api.v1alpha1 import (
    CStateInfo,
    FrequencyInfo,
    NodeCapabilities,
    RaplZoneInfo,
    UncoreDie,
)

POWERCAP = "class/powercap"
CPU_DIR = "devices/system/cpu"
UNCORE_DIR = f"{CPU_DIR}/intel_uncore_frequency"
CPUIDLE_DRIVER = f"{CPU_DIR}/cpuidle/current_driver"

MAX_PLAUSIBLE_PACKAGE_UW = 10_000 * 1_000_000
"""No CPU package draws 10 kW; a larger ``constraint_0_max_power_uw`` is a firmware or driver bug."""

# Top-level RAPL zones are ``intel-rapl:N`` (AMD CPUs use the same driver name);
# ``intel-rapl:N:M`` are core/uncore/dram sub-zones and never get a package cap.
_TOP_ZONE = re.compile(r"^intel-rapl:(\d+)$")
_SUB_ZONE = re.compile(r"^intel-rapl:(\d+):(\d+)$")
_CPU = re.compile(r"^cpu(\d+)$")
_STATE = re.compile(r"^state(\d+)$")
_DIE = re.compile(r"^package_(\d+)_die_(\d+)$")


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
    driver: str | None = None
    governor: str | None = None
    governors: tuple[str, ...] | None = None
    epp: str | None = None
    """energy_performance_preference as read (a name, or a number on intel_pstate); None: no EPP file."""
    epp_values: tuple[str, ...] | None = None
    shared_with: tuple[int, ...] = ()
    """Every CPU this policy drives (``cpu`` included), when several share one policy directory."""

    @property
    def dir(self) -> str:
        return f"{CPU_DIR}/cpu{self.cpu}/cpufreq"

    @property
    def policy_cpus(self) -> frozenset[int]:
        return frozenset(self.shared_with or (self.cpu,))

    @property
    def governor_file(self) -> str:
        return f"{self.dir}/scaling_governor"

    @property
    def epp_file(self) -> str:
        return f"{self.dir}/energy_performance_preference"

    @property
    def min_file(self) -> str:
        return f"{self.dir}/scaling_min_freq"

    @property
    def max_file(self) -> str:
        return f"{self.dir}/scaling_max_freq"


@dataclass(frozen=True)
class IdleState:
    """One cpuidle state of one CPU; ``disabled`` is the ``disable`` attribute (1 = disabled)."""

    cpu: int
    index: int
    name: str
    latency_us: int
    disabled: int
    desc: str | None = None

    @property
    def disable_file(self) -> str:
        return f"{CPU_DIR}/cpu{self.cpu}/cpuidle/state{self.index}/disable"


@dataclass(frozen=True)
class UncoreFreq:
    """One Intel uncore frequency domain (``package_XX_die_YY``); kHz as sysfs has them."""

    name: str
    initial_min_khz: int
    initial_max_khz: int
    min_khz: int
    max_khz: int

    @property
    def dir(self) -> str:
        return f"{UNCORE_DIR}/{self.name}"

    @property
    def min_file(self) -> str:
        return f"{self.dir}/min_freq_khz"

    @property
    def max_file(self) -> str:
        return f"{self.dir}/max_freq_khz"


@dataclass
class Inventory:
    """Everything discovery found, plus what it could not read (``*_problems``)."""

    zones: list[RaplZone] = field(default_factory=list)
    cpus: list[CpuFreq] = field(default_factory=list)
    idle_states: list[IdleState] = field(default_factory=list)
    uncore: list[UncoreFreq] = field(default_factory=list)
    online_cpus: int = 0
    cpu_ids: frozenset[int] = frozenset()
    """Every ``cpuN`` under devices/system/cpu."""
    cpuidle_driver: str | None = None
    rapl_problems: list[str] = field(default_factory=list)
    cpu_problems: list[str] = field(default_factory=list)
    """cpufreq limits that could not be read (the DVFS fallback and the frequency control refuse)."""
    control_problems: dict[str, list[str]] = field(default_factory=dict)
    """Per control (governor, epp, cstates, uncore): attributes that could not be read."""

    def problem(self, control: str, message: str) -> None:
        self.control_problems.setdefault(control, []).append(message)

    @property
    def packages(self) -> list[RaplZone]:
        return [z for z in self.zones if z.is_package]

    @property
    def rapl_writable(self) -> bool:
        pk = self.packages
        return bool(pk) and all(z.limit_writable for z in pk)

    def only(self, cpus: frozenset[int]) -> Inventory:
        """The per-core part of this inventory for ``cpus``: their cpufreq policies and cpuidle states.

        A policy that also drives a CPU outside ``cpus`` is left out (writing it would change a core
        that is not ours) and named in ``control_problems['shared-policy']``.
        """
        sub = Inventory(
            cpus=[c for c in self.cpus if c.policy_cpus <= cpus],
            idle_states=[s for s in self.idle_states if s.cpu in cpus],
            online_cpus=len(cpus),
            cpu_ids=cpus & self.cpu_ids,
            cpuidle_driver=self.cpuidle_driver,
            cpu_problems=list(self.cpu_problems),
            control_problems={k: list(v) for k, v in self.control_problems.items()},
        )
        for c in self.cpus:
            inside = c.policy_cpus & cpus
            if inside and not c.policy_cpus <= cpus:
                others = ",".join(str(n) for n in sorted(c.policy_cpus - cpus))
                sub.problem(
                    "shared-policy",
                    f"cpu{c.cpu}'s cpufreq policy also drives cpu {others}: its frequency, governor and EPP "
                    "cannot be set for these cores alone",
                )
        return sub

    def without(self, cpus: frozenset[int]) -> Inventory:
        """This inventory minus ``cpus``: the policies that drive only ``cpus`` and their cpuidle states go.

        A policy shared between ``cpus`` and other CPUs stays (the others still need it); RAPL and
        uncore are package-wide and stay.
        """
        return Inventory(
            zones=self.zones,
            cpus=[c for c in self.cpus if c.policy_cpus - cpus],
            idle_states=[s for s in self.idle_states if s.cpu not in cpus],
            uncore=self.uncore,
            online_cpus=self.online_cpus,
            cpu_ids=self.cpu_ids - cpus,
            cpuidle_driver=self.cpuidle_driver,
            rapl_problems=self.rapl_problems,
            cpu_problems=self.cpu_problems,
            control_problems=self.control_problems,
        )

    def package_max_watts(self) -> float | None:
        """Largest package maximum reported by RAPL (the reference for DVFS fractions)."""
        maxes = [z.max_power_uw for z in self.packages if z.max_power_uw]
        return max(maxes) / 1e6 if maxes else None


def _optional_int(fs: Sysfs, rel: str) -> int | None:
    return fs.read_int(rel) if fs.exists(rel) else None


def _zone_sort_key(zone: str) -> tuple[int, ...]:
    return tuple(int(x) for x in zone.split(":")[1:])


def discover_rapl(fs: Sysfs, inv: Inventory) -> None:
    names = [n for n in fs.listdir(POWERCAP) if _TOP_ZONE.match(n) or _SUB_ZONE.match(n)]
    for zone in sorted(names, key=_zone_sort_key):
        d = f"{POWERCAP}/{zone}"
        try:
            name = fs.read(f"{d}/name") if fs.exists(f"{d}/name") else zone
            if not fs.exists(f"{d}/constraint_0_power_limit_uw"):
                continue  # a zone with energy counters only: nothing to cap
            enabled = _optional_int(fs, f"{d}/enabled")
            max_uw = _optional_int(fs, f"{d}/constraint_0_max_power_uw") or None
            min_uw = _optional_int(fs, f"{d}/constraint_0_min_power_uw")
            if _TOP_ZONE.match(zone) and max_uw is not None and not 0 < max_uw <= MAX_PLAUSIBLE_PACKAGE_UW:
                raise SysfsError(
                    0,
                    f"constraint_0_max_power_uw is {max_uw / 1e6:g} W, not a plausible package maximum "
                    f"(above {MAX_PLAUSIBLE_PACKAGE_UW / 1e6:g} W): firmware or driver bug, caps not trusted",
                )
            if _TOP_ZONE.match(zone) and min_uw is not None and (min_uw < 0 or (max_uw and min_uw > max_uw)):
                raise SysfsError(0, f"constraint_0_min_power_uw is {min_uw / 1e6:g} W, outside [0, maximum]")
            inv.zones.append(
                RaplZone(
                    zone=zone,
                    name=name,
                    limit_uw=fs.read_int(f"{d}/constraint_0_power_limit_uw"),
                    max_power_uw=max_uw,
                    min_power_uw=min_uw,
                    enabled=None if enabled is None else bool(enabled),
                    limit_writable=fs.writable(f"{d}/constraint_0_power_limit_uw"),
                    has_energy=fs.exists(f"{d}/energy_uj"),
                )
            )
        except SysfsError as exc:
            if _TOP_ZONE.match(zone):
                inv.rapl_problems.append(f"RAPL zone {zone}: {exc.strerror or exc}")


def _cpu_numbers(fs: Sysfs) -> list[int]:
    return sorted(int(m.group(1)) for n in fs.listdir(CPU_DIR) if (m := _CPU.match(n)))


def _optional_text(fs: Sysfs, rel: str) -> str | None:
    return fs.read(rel) if fs.exists(rel) else None


def _optional_words(fs: Sysfs, rel: str) -> tuple[str, ...] | None:
    return tuple(fs.read_words(rel)) if fs.exists(rel) else None


def discover_cpufreq(fs: Sysfs, inv: Inventory, cpus: list[int]) -> None:
    by_policy: dict[str, list[int]] = {}
    for cpu in cpus:
        real = fs.real_dir(f"{CPU_DIR}/cpu{cpu}/cpufreq")
        if real is not None:
            by_policy.setdefault(real, []).append(cpu)  # CPUs sharing one policy directory: write it once
    for members in by_policy.values():
        cpu = members[0]
        d = f"{CPU_DIR}/cpu{cpu}/cpufreq"
        extras: dict[str, object] = {}
        for control, attr, key, reader in (
            ("frequency", "driver", "scaling_driver", _optional_text),
            ("governor", "governor", "scaling_governor", _optional_text),
            ("governor", "governors", "scaling_available_governors", _optional_words),
            ("epp", "epp", "energy_performance_preference", _optional_text),
            ("epp", "epp_values", "energy_performance_available_preferences", _optional_words),
        ):
            try:
                extras[attr] = reader(fs, f"{d}/{key}")
            except SysfsError as exc:
                inv.problem(control, f"cpu{cpu} {key}: {exc.strerror or exc}")
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
                    shared_with=tuple(members) if len(members) > 1 else (),
                    **extras,  # type: ignore[arg-type]
                )
            )
        except SysfsError as exc:
            inv.cpu_problems.append(f"cpufreq of cpu{cpu}: {exc.strerror or exc}")


def discover_cpuidle(fs: Sysfs, inv: Inventory, cpus: list[int]) -> None:
    try:
        inv.cpuidle_driver = _optional_text(fs, CPUIDLE_DRIVER)
    except SysfsError as exc:
        inv.problem("cstates", f"{CPUIDLE_DRIVER}: {exc.strerror or exc}")
    for cpu in cpus:
        base = f"{CPU_DIR}/cpu{cpu}/cpuidle"
        states = sorted(int(m.group(1)) for n in fs.listdir(base) if (m := _STATE.match(n)))
        for k in states:
            d = f"{base}/state{k}"
            try:
                inv.idle_states.append(
                    IdleState(
                        cpu=cpu,
                        index=k,
                        name=fs.read(f"{d}/name"),
                        latency_us=fs.read_int(f"{d}/latency"),
                        disabled=fs.read_int(f"{d}/disable") if fs.exists(f"{d}/disable") else 0,
                        desc=_optional_text(fs, f"{d}/desc"),
                    )
                )
            except SysfsError as exc:
                inv.problem("cstates", f"cpu{cpu} state{k}: {exc.strerror or exc}")


def discover_uncore(fs: Sysfs, inv: Inventory) -> None:
    names = sorted(n for n in fs.listdir(UNCORE_DIR) if _DIE.match(n))
    for name in names:
        d = f"{UNCORE_DIR}/{name}"
        try:
            die = UncoreFreq(
                name=name,
                initial_min_khz=fs.read_int(f"{d}/initial_min_freq_khz"),
                initial_max_khz=fs.read_int(f"{d}/initial_max_freq_khz"),
                min_khz=fs.read_int(f"{d}/min_freq_khz"),
                max_khz=fs.read_int(f"{d}/max_freq_khz"),
            )
        except SysfsError as exc:
            inv.problem("uncore", f"uncore {name}: {exc.strerror or exc}")
            continue
        if not 0 < die.initial_min_khz <= die.initial_max_khz:
            inv.problem("uncore", f"uncore {name}: initial range {die.initial_min_khz}-{die.initial_max_khz} kHz")
            continue
        inv.uncore.append(die)


def discover(fs: Sysfs) -> Inventory:
    """Read every RAPL zone, cpufreq policy, cpuidle state and uncore die under the sysfs root."""
    inv = Inventory()
    discover_rapl(fs, inv)
    cpus = _cpu_numbers(fs)
    inv.online_cpus = len(cpus)
    inv.cpu_ids = frozenset(cpus)
    discover_cpufreq(fs, inv, cpus)
    discover_cpuidle(fs, inv, cpus)
    discover_uncore(fs, inv)
    return inv


def _mhz(khz: int) -> int:
    return round(khz / 1000)


def capabilities(inv: Inventory) -> NodeCapabilities:
    """What the node supports, in the API's units (MHz, W): for status.capabilities and --inventory."""
    cpus = inv.cpus
    governors = sorted({g for c in cpus for g in (c.governors or ())}) or None
    epp = [v for v in dict.fromkeys(v for c in cpus for v in (c.epp_values or ()))] or None
    avail = sorted({f for c in cpus for f in (c.available_khz or ())})
    drivers = sorted({c.driver for c in cpus if c.driver})
    states: dict[str, CStateInfo] = {}
    for s in inv.idle_states:
        known = states.get(s.name)
        if known is None or s.latency_us > known.latency_us:
            states[s.name] = CStateInfo(name=s.name, latency_us=s.latency_us, description=s.desc)
    return NodeCapabilities(
        cpus=inv.online_cpus,
        scaling_driver=",".join(drivers) or None,
        frequency=FrequencyInfo(
            min_mhz=_mhz(min(c.cpuinfo_min_khz for c in cpus)), max_mhz=_mhz(max(c.cpuinfo_max_khz for c in cpus))
        )
        if cpus
        else None,
        available_frequencies_mhz=[_mhz(f) for f in avail] or None,
        governors=governors,
        epp=epp,
        cpuidle_driver=inv.cpuidle_driver,
        cstates=sorted(states.values(), key=lambda s: (s.latency_us, s.name)) or None,
        uncore=[
            UncoreDie(die=u.name, min_mhz=_mhz(u.initial_min_khz), max_mhz=_mhz(u.initial_max_khz)) for u in inv.uncore
        ]
        or None,
        rapl_zones=[
            RaplZoneInfo(
                zone=z.zone,
                name=z.name,
                max_watts=z.max_power_uw / 1e6 if z.max_power_uw else None,
                writable=z.limit_writable,
            )
            for z in inv.packages
        ]
        or None,
    )


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
