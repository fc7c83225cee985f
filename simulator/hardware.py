"""Hardware power and throughput model: what a node draws and how fast it works under a cap.

Pure functions over pydantic hardware descriptions; the engine calls them whenever a
node's running set or caps change. Sources for the default numbers are in
``docs/simulator.md``.

**CPU servers.** Uncapped wall power follows a SPECpower_ssj2008-style curve: eleven
points, active idle then 10 % ... 100 % load, linearly interpolated at the share of
cores busy. The rise above idle is the *dynamic* power; ``package_share`` of it is
drawn by the CPU packages (what RAPL caps), the rest by memory, fans and VRs.

A package cap only matters when the package would draw more than the cap. Then RAPL
lowers frequency until package power fits: the package's dynamic power scales as
``g(f) = a*f + (1-a)*f**3`` (``a`` = share that scales with frequency alone, the
rest with f*V**2 and V ~ f), so ``f`` solves ``g(f) = (cap - idle) / dynamic``,
never below ``min_freq_ratio``. CPU-bound work runs at speed ``f``.

**Controls beyond the cap** (:class:`NodeSettings`, built by :mod:`simulator.controls`): an
uncore pinned at its maximum or deep C-states disabled add power per socket at idle that
shrinks linearly to zero at full load; a frequency ceiling lowers ``f`` the way a cap does
(the lower of the two wins). Each number is sourced in ``docs/simulator.md``; effects with no
published measurement for the default CPU are zero.

**GPUs.** Each busy GPU draws ``busy_watts``, each idle one ``idle_watts``. A board
power limit (clamped to the board's allowed range, as NVML does) lowers a busy
GPU's draw the same way and GPU-bound work runs at its ``f``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from joulie.core.power import REFERENCE_CURVE_WATTS, curve_watts


class CpuModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    sockets: int = Field(ge=1)
    cores_per_socket: int = Field(ge=1)
    spec_curve_watts: tuple[float, ...] = Field(
        description="Wall power at active idle, 10 %, ..., 100 % load (11 points, SPECpower_ssj2008 style)."
    )
    package_idle_watts: float = Field(ge=0, description="RAPL package power per socket with all cores idle.")
    package_max_watts: float = Field(gt=0, description="Package maximum (TDP); base of --eco-cap-pct.")
    package_share: float = Field(default=0.9, gt=0, le=1, description="Share of dynamic wall power drawn by packages.")
    freq_linear_share: float = Field(default=0.3, ge=0, lt=1, description="'a' in g(f) = a f + (1-a) f^3.")
    min_freq_ratio: float = Field(default=0.3, gt=0, le=1, description="Lowest frequency / all-core turbo.")
    min_mhz: float = Field(default=800, gt=0, description="cpuinfo_min_freq.")
    max_turbo_mhz: float = Field(default=3400, gt=0, description="cpuinfo_max_freq (single-core turbo).")
    all_core_turbo_mhz: float = Field(default=3000, gt=0, description="All-core turbo: relative frequency 1.0.")
    uncore_min_mhz: float = Field(default=800, gt=0, description="initial_min_freq_khz of the uncore.")
    uncore_max_mhz: float = Field(default=2400, gt=0, description="initial_max_freq_khz of the uncore.")
    uncore_pinned_watts: float = Field(
        default=15.0, ge=0, description="Extra package power per socket at idle with the uncore pinned at its maximum."
    )
    cstates_limited_watts: float = Field(
        default=0.0, ge=0, description="Extra power per socket at idle with deep C-states disabled (unknown: 0)."
    )
    deep_cstate_latency_us: int = Field(default=170, ge=0, description="Exit latency of the deepest core C-state.")

    @field_validator("spec_curve_watts")
    @classmethod
    def _eleven_rising(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != 11:
            raise ValueError("spec_curve_watts needs 11 points: idle, 10 %, ..., 100 %")
        if any(b < a for a, b in itertools.pairwise(v)) or v[0] <= 0:
            raise ValueError("spec_curve_watts must be positive and non-decreasing")
        return v

    @property
    def cores(self) -> int:
        return self.sockets * self.cores_per_socket

    @property
    def idle_watts(self) -> float:
        return self.spec_curve_watts[0]


class GpuModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    idle_watts: float = Field(ge=0)
    busy_watts: float = Field(gt=0, description="Draw of a GPU running a typical job, uncapped.")
    max_limit_watts: float = Field(gt=0, description="Maximum board power limit (TDP); base of --eco-gpu-cap-pct.")
    min_limit_watts: float = Field(gt=0, description="Lowest board power limit the driver accepts.")
    freq_linear_share: float = Field(default=0.3, ge=0, lt=1)
    min_freq_ratio: float = Field(default=0.3, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> GpuModel:
        if not self.idle_watts < self.busy_watts <= self.max_limit_watts:
            raise ValueError(f"{self.name}: need idle_watts < busy_watts <= max_limit_watts")
        if self.min_limit_watts > self.max_limit_watts:
            raise ValueError(f"{self.name}: min_limit_watts exceeds max_limit_watts")
        return self


class NodeClass(BaseModel):
    """One kind of server in the simulated fleet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    cpu: CpuModel
    gpu: GpuModel | None = None
    gpus: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _gpu_pair(self) -> NodeClass:
        if (self.gpu is None) != (self.gpus == 0):
            raise ValueError(f"{self.name}: give both gpu and gpus, or neither")
        return self

    @property
    def idle_watts(self) -> float:
        return self.cpu.idle_watts + (self.gpu.idle_watts * self.gpus if self.gpu else 0.0)


# Defaults: see docs/simulator.md for the sources of every number.
XEON_2S = CpuModel(
    name="2x Xeon Platinum 8380 (Ice Lake-SP, 40 cores, 270 W TDP each)",
    sockets=2,
    cores_per_socket=40,
    spec_curve_watts=REFERENCE_CURVE_WATTS,
    package_idle_watts=40,
    package_max_watts=270,
)
A100_SXM = GpuModel(
    name="NVIDIA A100 SXM4 (400 W TDP)",
    idle_watts=55,
    busy_watts=360,
    max_limit_watts=400,
    min_limit_watts=100,
)
CPU_NODE = NodeClass(name="cpu-xeon-2s", cpu=XEON_2S)
GPU_NODE = NodeClass(name="gpu-8xa100", cpu=XEON_2S, gpu=A100_SXM, gpus=8)


spec_power = curve_watts
"""Wall power at ``load`` (0..1): the load curve of :mod:`joulie.core.power`, shared with the extender's predictor."""


def dynamic_scale(f: float, linear_share: float) -> float:
    """Dynamic power at relative frequency ``f`` (1.0 = uncapped)."""
    return linear_share * f + (1.0 - linear_share) * f**3


def freq_for_power(ratio: float, linear_share: float, min_freq: float) -> float:
    """Relative frequency whose dynamic power is ``ratio`` of the uncapped one.

    ``g`` is increasing on [0, 1], so Newton from f=1 converges monotonically.
    """
    if ratio >= 1.0:
        return 1.0
    if ratio <= dynamic_scale(min_freq, linear_share):
        return min_freq
    f = 1.0
    for _ in range(30):
        g = dynamic_scale(f, linear_share) - ratio
        dg = linear_share + 3.0 * (1.0 - linear_share) * f * f
        step = g / dg
        f -= step
        if abs(step) < 1e-12:
            break
    return min(1.0, max(min_freq, f))


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """The node's CPU settings beyond the cap that the model knows effects of (:mod:`simulator.controls`)."""

    uncore_pinned: bool = False
    cstates_limited: bool = False
    freq_ceiling: float = 1.0
    """Highest relative core frequency the profile allows (1.0 = all-core turbo)."""
    epp: str | int | None = None
    """Carried for reports; no modelled effect."""


DEFAULT_SETTINGS = NodeSettings()


@dataclass(frozen=True, slots=True)
class Operating:
    """A node's draw and relative speeds at one operating point."""

    watts: float
    cpu_speed: float
    gpu_speed: float
    package_watts: float = 0.0
    """What the CPU packages draw together (what RAPL measures and caps)."""
    gpu_watts: float = 0.0
    """What the GPUs draw together (what NVML reports)."""


def effective_cpu_cap(cpu: CpuModel, cap_watts: float | None, cap_pct: float | None) -> float | None:
    """Cap per package the agent would program: watts win over percent (CRD semantics)."""
    if cap_watts is not None:
        return cap_watts
    if cap_pct is not None:
        return cpu.package_max_watts * cap_pct / 100.0
    return None


def effective_gpu_cap(gpu: GpuModel, cap_watts: float | None, cap_pct: float | None) -> float | None:
    """Board limit the agent would set, clamped into the driver's accepted range."""
    if cap_watts is not None:
        limit = cap_watts
    elif cap_pct is not None:
        limit = gpu.max_limit_watts * cap_pct / 100.0
    else:
        return None
    return min(gpu.max_limit_watts, max(gpu.min_limit_watts, limit))


def settings_watts(cpu: CpuModel, load: float, settings: NodeSettings) -> float:
    """Extra power of the settings beyond the cap: per socket, full at idle, none at full load."""
    per_socket = (cpu.uncore_pinned_watts if settings.uncore_pinned else 0.0) + (
        cpu.cstates_limited_watts if settings.cstates_limited else 0.0
    )
    return per_socket * cpu.sockets * (1.0 - min(1.0, max(0.0, load)))


def cpu_operating(
    cpu: CpuModel, busy_cores: float, cap_per_package: float | None, settings: NodeSettings = DEFAULT_SETTINGS
) -> tuple[float, float]:
    """(wall watts of the CPU server part, relative CPU speed) with ``busy_cores`` busy."""
    load = busy_cores / cpu.cores
    uncapped = spec_power(cpu.spec_curve_watts, load)
    extra = settings_watts(cpu, load, settings)
    dynamic = uncapped - cpu.idle_watts
    pkg_dynamic = cpu.package_share * dynamic / cpu.sockets
    ceiling = max(cpu.min_freq_ratio, min(1.0, settings.freq_ceiling))
    f = ceiling
    if cap_per_package is not None and pkg_dynamic > 0:
        pkg_at_ceiling = cpu.package_idle_watts + pkg_dynamic * dynamic_scale(ceiling, cpu.freq_linear_share)
        if pkg_at_ceiling > cap_per_package:
            ratio = max(0.0, cap_per_package - cpu.package_idle_watts) / pkg_dynamic
            f = min(ceiling, freq_for_power(ratio, cpu.freq_linear_share, cpu.min_freq_ratio))
    if f >= 1.0 or pkg_dynamic <= 0:
        return uncapped + extra, 1.0
    scaled = dynamic_scale(f, cpu.freq_linear_share)
    watts = cpu.idle_watts + (1.0 - cpu.package_share) * dynamic + cpu.package_share * dynamic * scaled
    return watts + extra, f


def gpu_operating(gpu: GpuModel, busy: int, total: int, cap: float | None) -> tuple[float, float]:
    """(watts of all GPUs on the node, relative GPU speed) with ``busy`` of ``total`` GPUs busy."""
    idle = (total - busy) * gpu.idle_watts
    if busy == 0:
        return idle, 1.0
    if cap is None or gpu.busy_watts <= cap:
        return idle + busy * gpu.busy_watts, 1.0
    ratio = max(0.0, cap - gpu.idle_watts) / (gpu.busy_watts - gpu.idle_watts)
    f = freq_for_power(ratio, gpu.freq_linear_share, gpu.min_freq_ratio)
    per_gpu = gpu.idle_watts + (gpu.busy_watts - gpu.idle_watts) * dynamic_scale(f, gpu.freq_linear_share)
    return idle + busy * per_gpu, f


def node_operating(
    node: NodeClass,
    busy_cores: float,
    busy_gpus: int,
    cpu_cap: float | None,
    gpu_cap: float | None,
    settings: NodeSettings = DEFAULT_SETTINGS,
) -> Operating:
    """Whole-node draw and speeds; caps are per package / per GPU, already resolved."""
    busy = min(busy_cores, node.cpu.cores)
    cpu_w, cpu_f = cpu_operating(node.cpu, busy, cpu_cap, settings)
    pkg_w = package_watts(node.cpu, busy, cpu_f, settings)
    if node.gpu is None:
        return Operating(cpu_w, cpu_f, 1.0, pkg_w)
    gpu_w, gpu_f = gpu_operating(node.gpu, min(busy_gpus, node.gpus), node.gpus, gpu_cap)
    return Operating(cpu_w + gpu_w, cpu_f, gpu_f, pkg_w, gpu_w)


def package_watts(cpu: CpuModel, busy_cores: float, f: float, settings: NodeSettings = DEFAULT_SETTINGS) -> float:
    """All packages together at relative frequency ``f``: their idle draw, their ``package_share`` of the
    dynamic power scaled by ``g(f)``, and the settings' extra power (uncore and C-states are in the package)."""
    load = busy_cores / cpu.cores
    dynamic = spec_power(cpu.spec_curve_watts, load) - cpu.idle_watts
    scaled = 1.0 if f >= 1.0 else dynamic_scale(f, cpu.freq_linear_share)
    return (
        cpu.sockets * cpu.package_idle_watts
        + cpu.package_share * dynamic * scaled
        + settings_watts(cpu, load, settings)
    )


def joules_to_kwh(joules: float) -> float:
    return joules / 3.6e6
