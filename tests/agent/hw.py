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
