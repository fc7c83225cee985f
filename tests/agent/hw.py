"""Realistic sysfs trees and a thin pynvml stand-in for the agent tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pynvml

ORIG_LIMIT_UW = 150_000_000
MAX_UW = 205_000_000
SHORT_LIMIT_UW = 246_000_000
CPUINFO_MIN = 800_000
CPUINFO_MAX = 3_800_000


def _w(path: Path, value: object, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")
    os.chmod(path, mode)


def _zone(d: Path, name: str, limit: int, max_uw: int, energy: int, limit_mode: int = 0o644) -> None:
    _w(d / "name", name, 0o444)
    _w(d / "enabled", 1)
    _w(d / "constraint_0_name", "long_term", 0o444)
    _w(d / "constraint_0_power_limit_uw", limit, limit_mode)
    _w(d / "constraint_0_max_power_uw", max_uw, 0o444)
    _w(d / "constraint_0_time_window_us", 27983872, limit_mode)
    _w(d / "constraint_1_name", "short_term", 0o444)
    _w(d / "constraint_1_power_limit_uw", SHORT_LIMIT_UW if name.startswith("package") else limit, limit_mode)
    _w(d / "constraint_1_max_power_uw", max_uw, 0o444)
    _w(d / "energy_uj", energy, 0o444)
    _w(d / "max_energy_range_uj", 262143328850, 0o444)


def add_rapl(root: Path, sockets: int = 2, read_only: bool = False) -> None:
    base = root / "class" / "powercap"
    mode = 0o444 if read_only else 0o644
    for s in range(sockets):
        _zone(base / f"intel-rapl:{s}", f"package-{s}", ORIG_LIMIT_UW, MAX_UW, 1_000_000 * (s + 1), mode)
        _zone(base / f"intel-rapl:{s}:0", "core", 0, 0, 500_000, mode)
        _zone(base / f"intel-rapl:{s}:1", "uncore", 0, 0, 100_000, mode)
        _zone(base / f"intel-rapl:{s}:2", "dram", 0, 0, 200_000, mode)


def add_cpufreq(
    root: Path,
    cpus: int = 8,
    available: list[int] | None = None,
    driver: str = "intel_pstate",
    scaling_min: int = CPUINFO_MIN,
) -> None:
    for c in range(cpus):
        d = root / "devices" / "system" / "cpu" / f"cpu{c}" / "cpufreq"
        _w(d / "cpuinfo_min_freq", CPUINFO_MIN, 0o444)
        _w(d / "cpuinfo_max_freq", CPUINFO_MAX, 0o444)
        _w(d / "scaling_min_freq", scaling_min)
        _w(d / "scaling_max_freq", CPUINFO_MAX)
        _w(d / "scaling_cur_freq", 2_100_000 + c * 1000, 0o444)
        _w(d / "scaling_driver", driver, 0o444)
        _w(d / "scaling_governor", "powersave")
        if available:
            _w(d / "scaling_available_frequencies", " ".join(str(f) for f in sorted(available, reverse=True)), 0o444)


def intel_two_socket(root: Path) -> Path:
    add_rapl(root)
    add_cpufreq(root)
    return root


# ---------------------------------------------------------------- machines with the controls beyond caps

INTEL_EPP_PREFS = "default performance balance_performance balance_power power"
# intel_idle on Ice Lake-SP (Xeon 8380): exit latencies in us as the kernel's icx_cstates table has them.
INTEL_IDLE_STATES = [
    ("POLL", "CPUIDLE CORE POLL IDLE", 0),
    ("C1", "MWAIT 0x00", 1),
    ("C1E", "MWAIT 0x01", 4),
    ("C6", "MWAIT 0x20", 170),
]
# acpi_idle on an AMD EPYC server: the firmware's _CST (C2 is CC6).
ACPI_IDLE_STATES = [
    ("POLL", "CPUIDLE CORE POLL IDLE", 0),
    ("C1", "ACPI FFH MWAIT 0x0", 1),
    ("C2", "ACPI IOPORT 0x814", 18),
]
UNCORE_MIN, UNCORE_MAX = 800_000, 2_400_000


def add_policy(
    root: Path,
    cpu: int,
    *,
    driver: str,
    governors: str,
    governor: str,
    cpuinfo: tuple[int, int],
    epp: str | None = None,
    epp_prefs: str | None = None,
    available: list[int] | None = None,
    mode: int = 0o644,
) -> None:
    """cpuN/cpufreq as a symlink to cpufreq/policyN, as the kernel lays it out."""
    cpu_dir = root / "devices/system/cpu"
    policy = cpu_dir / "cpufreq" / f"policy{cpu}"
    lo, hi = cpuinfo
    _w(policy / "cpuinfo_min_freq", lo, 0o444)
    _w(policy / "cpuinfo_max_freq", hi, 0o444)
    _w(policy / "scaling_min_freq", lo, mode)
    _w(policy / "scaling_max_freq", hi, mode)
    _w(policy / "scaling_cur_freq", (lo + hi) // 2, 0o444)
    _w(policy / "scaling_driver", driver, 0o444)
    _w(policy / "scaling_governor", governor, mode)
    _w(policy / "scaling_available_governors", governors, 0o444)
    if epp is not None:
        _w(policy / "energy_performance_preference", epp, mode)
        _w(policy / "energy_performance_available_preferences", epp_prefs, 0o444)
    if available:
        _w(policy / "scaling_available_frequencies", " ".join(str(f) for f in sorted(available, reverse=True)), 0o444)
    (cpu_dir / f"cpu{cpu}").mkdir(parents=True, exist_ok=True)
    (cpu_dir / f"cpu{cpu}" / "cpufreq").symlink_to(f"../cpufreq/policy{cpu}")


def add_cpuidle(root: Path, cpus: int, states: list[tuple[str, str, int]], driver: str) -> None:
    cpu_dir = root / "devices/system/cpu"
    _w(cpu_dir / "cpuidle" / "current_driver", driver, 0o444)
    for c in range(cpus):
        for k, (name, desc, latency) in enumerate(states):
            d = cpu_dir / f"cpu{c}" / "cpuidle" / f"state{k}"
            _w(d / "name", name, 0o444)
            _w(d / "desc", desc, 0o444)
            _w(d / "latency", latency, 0o444)
            _w(d / "residency", latency * 3, 0o444)
            _w(d / "disable", 0)


def add_uncore(root: Path, packages: int = 2, dies: int = 1) -> None:
    base = root / "devices/system/cpu/intel_uncore_frequency"
    for p in range(packages):
        for d in range(dies):
            u = base / f"package_{p:02d}_die_{d:02d}"
            _w(u / "initial_min_freq_khz", UNCORE_MIN, 0o444)
            _w(u / "initial_max_freq_khz", UNCORE_MAX, 0o444)
            _w(u / "min_freq_khz", UNCORE_MIN)
            _w(u / "max_freq_khz", UNCORE_MAX)
            _w(u / "current_freq_khz", 1_800_000, 0o444)


def intel_server(root: Path, cpus: int = 8, packages: int = 2) -> Path:
    """Xeon with intel_pstate active (HWP, EPP), intel_idle POLL/C1/C1E/C6, uncore on 2 packages x 1 die."""
    add_rapl(root, sockets=packages)
    for c in range(cpus):
        add_policy(
            root,
            c,
            driver="intel_pstate",
            governors="performance powersave",
            governor="powersave",
            cpuinfo=(CPUINFO_MIN, CPUINFO_MAX),
            epp="balance_performance",
            epp_prefs=INTEL_EPP_PREFS,
        )
    add_cpuidle(root, cpus, INTEL_IDLE_STATES, "intel_idle")
    add_uncore(root, packages)
    return root


AMD_CPUINFO = (1_500_000, 3_700_000)


def amd_server(root: Path, cpus: int = 8) -> Path:
    """EPYC with amd-pstate-epp and acpi_idle; RAPL has energy counters only (no limits); no uncore driver."""
    base = root / "class" / "powercap"
    for s in range(2):
        d = base / f"intel-rapl:{s}"
        _w(d / "name", f"package-{s}", 0o444)
        _w(d / "energy_uj", 5_000_000 * (s + 1), 0o444)
        _w(d / "max_energy_range_uj", 65532610987, 0o444)
    for c in range(cpus):
        add_policy(
            root,
            c,
            driver="amd-pstate-epp",
            governors="performance powersave",
            governor="powersave",
            cpuinfo=AMD_CPUINFO,
            epp="balance_performance",
            epp_prefs=INTEL_EPP_PREFS,
        )
    add_cpuidle(root, cpus, ACPI_IDLE_STATES, "acpi_idle")
    return root


VM_FREQS = [1_200_000, 1_600_000, 2_000_000, 2_400_000, 2_800_000]


def vm_guest(root: Path, cpus: int = 4) -> Path:
    """A KVM guest: acpi-cpufreq with listed frequencies, no EPP, no cpuidle states, no powercap."""
    for c in range(cpus):
        add_policy(
            root,
            c,
            driver="acpi-cpufreq",
            governors="conservative ondemand userspace powersave performance schedutil",
            governor="schedutil",
            cpuinfo=(VM_FREQS[0], VM_FREQS[-1]),
            available=VM_FREQS,
        )
    return root


def read(root: Path, rel: str) -> str:
    """An attribute as sysfs shows it, without the trailing newline."""
    return (root / rel).read_text().strip()


def snapshot(root: Path) -> dict[str, str]:
    """Every file's contents, to assert that nothing changed."""
    return {str(p.relative_to(root)): p.read_text().strip() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- pynvml stand-in


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    limit_mw: int = 700_000
    min_mw: int = 200_000
    max_mw: int = 700_000
    power_mw: int = 312_500
    settable: bool = True


@dataclass
class FakePynvml:
    """The pynvml functions the agent calls, over a list of GPUs; errors are real pynvml errors."""

    gpus: list[FakeGpu] = field(default_factory=list)
    initialised: bool = False
    set_calls: list[tuple[str, int]] = field(default_factory=list)
    NVMLError = pynvml.NVMLError

    def nvmlInit(self) -> None:
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.initialised = False

    def _check(self) -> None:
        if not self.initialised:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> FakeGpu:
        self._check()
        if not 0 <= i < len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[i]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeGpu:
        self._check()
        for g in self.gpus:
            if g.uuid == uuid:
                return g
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetUUID(self, h: FakeGpu) -> str:
        return h.uuid

    def nvmlDeviceGetName(self, h: FakeGpu) -> str:
        return h.name

    def nvmlDeviceGetPowerManagementLimit(self, h: FakeGpu) -> int:
        return h.limit_mw

    def nvmlDeviceGetPowerManagementLimitConstraints(self, h: FakeGpu) -> list[int]:
        return [h.min_mw, h.max_mw]

    def nvmlDeviceGetPowerManagementDefaultLimit(self, h: FakeGpu) -> int:
        return h.max_mw

    def nvmlDeviceGetPowerUsage(self, h: FakeGpu) -> int:
        return h.power_mw

    def nvmlDeviceSetPowerManagementLimit(self, h: FakeGpu, limit: int) -> None:
        self._check()
        if not h.settable:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NO_PERMISSION)
        if not h.min_mw <= limit <= h.max_mw:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        self.set_calls.append((h.uuid, limit))
        h.limit_mw = limit
