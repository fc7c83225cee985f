"""Power telemetry: package power from RAPL energy counters, CPU frequencies, GPU power.

``energy_uj`` is a cumulative counter that wraps at ``max_energy_range_uj``; power is
the energy difference between two samples over the time between them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.backends import http
from agent.backends.nvml import Nvml
from agent.inventory import CPU_DIR, POWERCAP, Inventory
from agent.metrics import AgentMetrics
from agent.sysfs import Sysfs, SysfsError
from agent.txn import ChannelError
from joulie.api.v1alpha1 import TelemetrySources

log = logging.getLogger(__name__)


def energy_delta_uj(previous: int, current: int, max_range_uj: int | None) -> int | None:
    """Energy used between two readings; ``None`` when a wrap cannot be accounted for."""
    if current >= previous:
        return current - previous
    if not max_range_uj or previous > max_range_uj:
        return None
    return max_range_uj - previous + current


@dataclass
class Sample:
    package_watts: dict[str, float] = field(default_factory=dict)
    cpu_khz: dict[int, int] = field(default_factory=dict)
    gpu_watts: dict[str, float] = field(default_factory=dict)
    remote: dict[str, dict[str, float]] = field(default_factory=dict)


class Telemetry:
    def __init__(
        self, fs: Sysfs, nvml: Nvml, metrics: AgentMetrics, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.fs, self.nvml, self.metrics, self.clock = fs, nvml, metrics, clock
        self._last: dict[str, tuple[int, float]] = {}
        self._energy_j: dict[str, float] = {}

    def sample(self, inv: Inventory, sources: TelemetrySources | None = None) -> Sample:
        out = Sample()
        now = self.clock()
        for zone in inv.packages:
            if not zone.has_energy:
                continue
            try:
                cur = self.fs.read_int(f"{POWERCAP}/{zone.zone}/energy_uj")
                rng_rel = f"{POWERCAP}/{zone.zone}/max_energy_range_uj"
                rng = self.fs.read_int(rng_rel) if self.fs.exists(rng_rel) else None
            except SysfsError as exc:
                self.metrics.telemetry_errors.labels(source="rapl").inc()
                log.debug("energy counter unreadable", extra={"zone": zone.zone, "error": str(exc)})
                continue
            prev = self._last.get(zone.zone)
            self._last[zone.zone] = (cur, now)
            if prev is None or now <= prev[1]:
                continue
            delta = energy_delta_uj(prev[0], cur, rng)
            if delta is None:
                continue
            watts = delta / 1e6 / (now - prev[1])
            out.package_watts[zone.zone] = watts
            self._energy_j[zone.zone] = self._energy_j.get(zone.zone, 0.0) + delta / 1e6
            self.metrics.package_power.labels(zone=zone.zone).set(watts)
            self.metrics.package_energy.labels(zone=zone.zone).set(self._energy_j[zone.zone])
        for cpu in inv.cpus:
            rel = f"{CPU_DIR}/cpu{cpu.cpu}/cpufreq/scaling_cur_freq"
            if self.fs.exists(rel):
                try:
                    out.cpu_khz[cpu.cpu] = self.fs.read_int(rel)
                except SysfsError:
                    continue
                self.metrics.cpu_freq.labels(cpu=str(cpu.cpu)).set(out.cpu_khz[cpu.cpu])
        if self.nvml.state == "nvml":
            try:
                out.gpu_watts = self.nvml.power_watts()
            except ChannelError as exc:
                self.metrics.telemetry_errors.labels(source="nvml").inc()
                log.debug("GPU power unreadable", extra={"error": str(exc)})
            for uuid, watts in out.gpu_watts.items():
                self.metrics.gpu_power.labels(gpu=uuid).set(watts)
        if sources is not None:
            for name in ("cpu", "gpu", "thermal", "context"):
                src = getattr(sources, name)
                if src is None or src.type != "http" or not src.endpoint:
                    continue
                try:
                    values = http.fetch_numbers(src.endpoint, src.timeout_seconds)
                except (OSError, ValueError) as exc:
                    self.metrics.telemetry_errors.labels(source=name).inc()
                    log.warning("HTTP telemetry source failed", extra={"source": name, "error": str(exc)})
                    continue
                out.remote[name] = values
                for key, value in values.items():
                    self.metrics.remote.labels(source=name, field=key).set(value)
        return out
