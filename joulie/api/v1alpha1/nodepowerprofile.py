"""``NodePowerProfile``: the desired power profile of one node, written by the labeller, enforced by the agent."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonDict

from joulie.api.labels import Profile
from joulie.api.v1alpha1.common import (
    AGE_COLUMN,
    API_VERSION,
    ApiModel,
    Condition,
    CrdSpec,
    PrinterColumn,
    SpecModel,
    condition_column,
)

NPP_KIND: Final = "NodePowerProfile"
NPP_PLURAL: Final = "nodepowerprofiles"


def npp_name(node_name: str) -> str:
    """Name of the NodePowerProfile of ``node_name`` (upstream convention ``node-<node>``)."""
    return f"node-{node_name}"


def _cel(rule: str, message: str) -> JsonDict:
    return {"rule": rule, "message": message}


_RANGE_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class FrequencyRange(SpecModel):
    """A frequency range: absolute MHz, or percent of the hardware's range; either bound may be left out.

    ``pct`` maps linearly onto the range the hardware reports (``cpuinfo_{min,max}_freq`` for
    cores, ``initial_{min,max}_freq_khz`` for uncore): ``min + pct / 100 * (max - min)``.
    A bound left out keeps the node's own value (clamped so that min <= max).
    """

    model_config = ConfigDict(
        **_RANGE_CONFIG,
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!((has(self.minMHz) || has(self.maxMHz)) && (has(self.minPct) || has(self.maxPct)))",
                    "use minMHz/maxMHz or minPct/maxPct, not both",
                ),
                _cel(
                    "!has(self.minMHz) || !has(self.maxMHz) || self.minMHz <= self.maxMHz", "minMHz must be <= maxMHz"
                ),
                _cel(
                    "!has(self.minPct) || !has(self.maxPct) || self.minPct <= self.maxPct", "minPct must be <= maxPct"
                ),
            ]
        },
    )

    min_mhz: int | None = Field(default=None, ge=1, alias="minMHz", description="Lowest frequency, MHz.")
    max_mhz: int | None = Field(default=None, ge=1, alias="maxMHz", description="Highest frequency, MHz.")
    min_pct: float | None = Field(default=None, ge=0, le=100, description="Lowest frequency, % of the hardware range.")
    max_pct: float | None = Field(default=None, ge=0, le=100, description="Highest frequency, % of the hardware range.")

    @model_validator(mode="after")
    def _consistent(self) -> FrequencyRange:
        mhz = self.min_mhz is not None or self.max_mhz is not None
        pct = self.min_pct is not None or self.max_pct is not None
        if mhz and pct:
            raise ValueError("use minMHz/maxMHz or minPct/maxPct, not both")
        if self.min_mhz is not None and self.max_mhz is not None and self.min_mhz > self.max_mhz:
            raise ValueError(f"minMHz {self.min_mhz} is above maxMHz {self.max_mhz}")
        if self.min_pct is not None and self.max_pct is not None and self.min_pct > self.max_pct:
            raise ValueError(f"minPct {self.min_pct:g} is above maxPct {self.max_pct:g}")
        return self

    @property
    def empty(self) -> bool:
        return self.min_mhz is None and self.max_mhz is None and self.min_pct is None and self.max_pct is None

    def describe(self) -> str:
        """``800-2000 MHz``, ``-60 %``: what was asked, for statuses and plan tables."""
        if self.min_pct is not None or self.max_pct is not None:
            lo = "" if self.min_pct is None else f"{self.min_pct:g}"
            hi = "" if self.max_pct is None else f"{self.max_pct:g}"
            return f"{lo}-{hi} %"
        lo = "" if self.min_mhz is None else str(self.min_mhz)
        hi = "" if self.max_mhz is None else str(self.max_mhz)
        return f"{lo}-{hi} MHz"


CSTATE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,16}$")
EPP_NAME = re.compile(r"^[a-z][a-z_]{0,31}$")

Epp = Annotated[
    int | str,
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "description": "A name from energy_performance_available_preferences, or 0-255 (0 = performance).",
            "x-kubernetes-validations": [
                _cel(
                    "type(self) == int ? (self >= 0 && self <= 255) : (size(self) >= 1 && size(self) <= 32)",
                    "epp is a preference name (1-32 characters) or an integer 0-255",
                )
            ],
        }
    ),
]


class CStates(SpecModel):
    """cpuidle states: enable or disable by name, and disable every state slower to wake than a limit."""

    names: dict[str, bool] | None = Field(
        default=None,
        max_length=32,
        description="State name (cpuidle stateK/name, e.g. C1, C1E, C6) -> enabled. POLL is never disabled.",
    )
    max_latency_us: int | None = Field(
        default=None,
        ge=0,
        description="Also disable every state whose exit latency is above this, in microseconds.",
    )

    @field_validator("names")
    @classmethod
    def _names(cls, value: dict[str, bool] | None) -> dict[str, bool] | None:
        for name in value or {}:
            if not CSTATE_NAME.match(name):
                raise ValueError(f"{name!r} is not a C-state name (1-16 letters, digits, '.', '_' or '-')")
        return value

    def describe(self) -> str:
        parts = [f"{n}={'on' if on else 'off'}" for n, on in sorted((self.names or {}).items())]
        if self.max_latency_us is not None:
            parts.append(f"<={self.max_latency_us}us")
        return ",".join(parts)


CONTROL_NAMES: Final = ("governor", "epp", "frequency", "cstates", "uncore")
"""The CPU controls beyond the cap, in the order the agent applies them."""


class CoreControls(SpecModel):
    """Per-core settings: frequency range, governor, EPP and C-states; absent = leave the cores as they are.

    One definition for every place that tunes cores: the whole node (``NodePowerProfile.spec.cpu``)
    and a pod's exclusive cores (``PowerProfile.spec``).
    """

    frequency: FrequencyRange | None = Field(
        default=None,
        description="scaling_min_freq/scaling_max_freq of each CPU it applies to, clamped to cpuinfo_{min,max}_freq.",
    )
    governor: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,15}$",
        description="cpufreq governor; must be listed in scaling_available_governors.",
    )
    epp: Epp | None = None
    cstates: CStates | None = None

    @field_validator("epp", mode="before")
    @classmethod
    def _epp_number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("epp is a preference name or an integer 0-255")
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return value

    @field_validator("epp")
    @classmethod
    def _epp(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and not 0 <= value <= 255:
            raise ValueError(f"epp must be in 0-255, got {value}")
        if isinstance(value, str) and not EPP_NAME.match(value):
            raise ValueError(f"{value!r} is not an EPP name (lowercase letters and _)")
        return value

    def controls(self) -> dict[str, Any]:
        """The controls that are set, by name, in apply order (:data:`CONTROL_NAMES`)."""
        out: dict[str, Any] = {}
        for name in CONTROL_NAMES:
            if name not in type(self).model_fields:
                continue
            value = getattr(self, name)
            if value is None or (isinstance(value, FrequencyRange) and value.empty):
                continue
            if isinstance(value, CStates) and value.names is None and value.max_latency_us is None:
                continue
            out[name] = value
        return out


class CpuCap(CoreControls):
    """CPU settings: the package power cap (watts win), the per-core controls and uncore; absent = leave as is."""

    package_power_cap_watts: float | None = Field(
        default=None, ge=1, description="Cap per CPU package (RAPL package zone), in watts."
    )
    package_power_cap_pct_of_max: float | None = Field(
        default=None, ge=1, le=100, description="Cap per package as a percentage of the zone's maximum."
    )
    uncore: FrequencyRange | None = Field(
        default=None,
        description="Intel uncore frequency of every package/die, clamped to initial_{min,max}_freq_khz.",
    )

    @property
    def has_cap(self) -> bool:
        return self.package_power_cap_watts is not None or self.package_power_cap_pct_of_max is not None


class GpuPowerCap(SpecModel):
    scope: Literal["perGpu"] = Field(default="perGpu", description="Caps apply to each GPU separately.")
    cap_watts_per_gpu: float | None = Field(default=None, ge=1, description="Board power limit per GPU, in watts.")
    cap_pct_of_max: float | None = Field(
        default=None, ge=1, le=100, description="Board power limit as a percentage of the GPU's maximum limit."
    )


class GpuCap(SpecModel):
    power_cap: GpuPowerCap | None = None


class PolicyRef(SpecModel):
    name: str = Field(min_length=1, description="Policy that produced this profile (provenance).")


class NodePowerProfileSpec(SpecModel):
    node_name: str = Field(min_length=1, description="Node this profile targets.")
    profile: Profile = Field(description="Desired supply: performance or eco.")
    draining: bool | None = Field(
        default=None, description="True while the node is eco but still runs performance pods."
    )
    cpu: CpuCap | None = None
    gpu: GpuCap | None = None
    policy: PolicyRef | None = None


class PackageStatus(ApiModel):
    zone: str = Field(description="RAPL zone, for example intel-rapl:0.")
    cap_watts: float = Field(ge=0)


ControlName = Literal["governor", "epp", "frequency", "cstates", "uncore"]
ControlResult = Literal["applied", "failed", "unsupported", "skipped"]


class CpuControlStatus(ApiModel):
    """What happened to one control beyond the cap."""

    name: ControlName
    requested: str = Field(description="What the spec asked for.")
    applied: str | None = Field(default=None, description="What the hardware reports after the pass.")
    result: ControlResult
    message: str | None = None


class CpuStatus(ApiModel):
    backend: Literal["rapl", "dvfs", "http", "none"]
    package_power_cap_watts: float | None = Field(default=None, ge=0, description="Cap applied per package.")
    packages: list[PackageStatus] | None = None
    max_freq_k_hz: int | None = Field(default=None, ge=0, alias="maxFreqKHz")
    throttle_pct: float | None = Field(default=None, ge=0, le=100)
    controls: list[CpuControlStatus] | None = Field(default=None, description="Controls beyond the cap.")
    controls_summary: str | None = Field(
        default=None, description="One line per node for kubectl get -o wide: control=result."
    )


class CStateInfo(ApiModel):
    name: str
    latency_us: int = Field(ge=0, description="Exit latency (cpuidle stateK/latency).")
    description: str | None = None


class FrequencyInfo(ApiModel):
    min_mhz: int = Field(ge=0, alias="minMHz")
    max_mhz: int = Field(ge=0, alias="maxMHz")


class UncoreDie(ApiModel):
    die: str = Field(description="intel_uncore_frequency directory, e.g. package_00_die_00.")
    min_mhz: int = Field(ge=0, alias="minMHz", description="initial_min_freq_khz, MHz.")
    max_mhz: int = Field(ge=0, alias="maxMHz", description="initial_max_freq_khz, MHz.")


class RaplZoneInfo(ApiModel):
    zone: str
    name: str
    max_watts: float | None = Field(default=None, ge=0)
    writable: bool


class NodeCapabilities(ApiModel):
    """What the node's power interfaces support, so profiles can be written that work."""

    cpus: int = Field(default=0, ge=0)
    scaling_driver: str | None = None
    frequency: FrequencyInfo | None = Field(default=None, description="cpuinfo_{min,max}_freq range.")
    available_frequencies_mhz: list[int] | None = Field(default=None, alias="availableFrequenciesMHz")
    governors: list[str] | None = None
    epp: list[str] | None = Field(default=None, description="energy_performance_available_preferences.")
    cpuidle_driver: str | None = None
    cstates: list[CStateInfo] | None = None
    uncore: list[UncoreDie] | None = None
    rapl_zones: list[RaplZoneInfo] | None = None


class GpuStatus(ApiModel):
    backend: Literal["nvml", "http", "none"]
    cap_watts_per_gpu: float | None = Field(default=None, ge=0)
    gpus: int | None = Field(default=None, ge=0)


class PowerReading(ApiModel):
    """What the node draws, as its agent measures it (RAPL energy counters, NVML), and what caps can do.

    The power budgets (PowerCappingPolicy) plan from this: ``packageWatts + gpuWatts`` is what
    the caps govern; ``packageFloorWatts`` and the GPUs' minimum limit are the least they can
    make the node draw.
    """

    measured_at: datetime
    packages: int = Field(default=0, ge=0)
    package_watts: float | None = Field(default=None, ge=0, description="All packages together.")
    package_cap_min_watts: float | None = Field(default=None, ge=0, description="Lowest cap per package.")
    package_cap_max_watts: float | None = Field(default=None, ge=0, description="Highest cap per package.")
    package_floor_watts: float | None = Field(
        default=None, ge=0, description="Least a package has been seen to draw (idle is not capped away)."
    )
    gpus: int = Field(default=0, ge=0)
    gpu_watts: float | None = Field(default=None, ge=0, description="All GPUs together.")
    gpu_cap_min_watts: float | None = Field(default=None, ge=0)
    gpu_cap_max_watts: float | None = Field(default=None, ge=0)
    node_watts: float | None = Field(
        default=None,
        ge=0,
        description="Wall power of the whole node, where a node-level source reports it (a BMC); "
        "the budgets then count it instead of packages + GPUs + the policy's nodeOverheadWatts.",
    )


PodCoresResult = Literal["applied", "refused", "failed"]


class ExclusiveCores(ApiModel):
    """One container's exclusive CPUs (from the kubelet) and the pod power profile they run under."""

    namespace: str
    pod: str
    container: str
    profile: str = Field(description="PowerProfile the container asked for (power.joulie.io/<profile>).")
    cpus: str = Field(description="Exclusive CPUs as a Linux cpuset list, e.g. 2-3,66-67.")
    result: PodCoresResult = Field(
        description="applied; refused (the request is wrong, the cores keep the shared pool's settings); "
        "failed (a write failed and was rolled back)."
    )
    reason: str | None = Field(default=None, description="Why it was refused or failed, e.g. RequestMismatch.")
    message: str | None = None


class PodProfileOffer(ApiModel):
    """One PowerProfile as this node offers it: advertised as an extended resource, or not and why."""

    name: str
    resource: str | None = Field(default=None, description="The extended resource, power.joulie.io/<name>.")
    capacity: int | None = Field(default=None, ge=0, description="Advertised in the node's status capacity.")
    message: str | None = Field(default=None, description="Why the node cannot honour it.")


class PodProfilesStatus(ApiModel):
    """Which pods hold which cores under which pod power profile, on this node."""

    reserved_cpus: str | None = Field(
        default=None, alias="reservedCPUs", description="--reserved-cpus: never touched by the agent's controls."
    )
    shared_cpus: str | None = Field(
        default=None, alias="sharedCPUs", description="CPUs following the node's own settings (spec.cpu)."
    )
    containers: list[ExclusiveCores] | None = None
    profiles: list[PodProfileOffer] | None = None
    summary: str | None = Field(default=None, description="One line for kubectl get -o wide: profile=cpus.")


class NodePowerProfileStatus(ApiModel):
    """What the agent applied on the node, and whether it could."""

    observed_generation: int | None = Field(default=None, ge=0)
    profile: Profile | None = Field(default=None, description="Profile the agent last applied.")
    cpu: CpuStatus | None = None
    gpu: GpuStatus | None = None
    last_applied_time: datetime | None = None
    drift_corrections: int | None = Field(default=None, ge=0, description="Values found reverted and re-applied.")
    capabilities: NodeCapabilities | None = None
    power: PowerReading | None = None
    pod_profiles: PodProfilesStatus | None = Field(
        default=None, description="Pod power profiles on exclusive cores (PowerProfile, power.joulie.io/<name>)."
    )
    conditions: list[Condition] | None = None


class NodePowerProfile(ApiModel):
    api_version: Literal["joulie.io/v1alpha1"] = API_VERSION
    kind: Literal["NodePowerProfile"] = NPP_KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: NodePowerProfileSpec
    status: NodePowerProfileStatus | None = None


CRD = CrdSpec(
    kind=NPP_KIND,
    plural=NPP_PLURAL,
    short_names=("npp",),
    spec_model=NodePowerProfileSpec,
    status_model=NodePowerProfileStatus,
    columns=(
        PrinterColumn("Node", "string", ".spec.nodeName"),
        PrinterColumn("Profile", "string", ".spec.profile"),
        PrinterColumn("Cap", "number", ".spec.cpu.packagePowerCapWatts", "Desired CPU package cap in watts"),
        PrinterColumn("Draining", "boolean", ".spec.draining"),
        condition_column("Applied", "Applied"),
        PrinterColumn("Applied-Cap", "number", ".status.cpu.packagePowerCapWatts", priority=1),
        PrinterColumn("Controls", "string", ".status.cpu.controlsSummary", "Controls beyond the cap", priority=1),
        PrinterColumn(
            "Pod-Profiles", "string", ".status.podProfiles.summary", "Exclusive cores by profile", priority=1
        ),
        AGE_COLUMN,
    ),
    description="Desired power profile of one node: written by the labeller, enforced by the agent.",
)
