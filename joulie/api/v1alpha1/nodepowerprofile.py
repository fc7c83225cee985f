"""``NodePowerProfile``: the desired power profile of one node, written by the labeller, enforced by the agent."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import Field

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


class CpuCap(SpecModel):
    """CPU package power cap; watts win when both are given."""

    package_power_cap_watts: float | None = Field(
        default=None, ge=1, description="Cap per CPU package (RAPL package zone), in watts."
    )
    package_power_cap_pct_of_max: float | None = Field(
        default=None, ge=1, le=100, description="Cap per package as a percentage of the zone's maximum."
    )


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


class CpuStatus(ApiModel):
    backend: Literal["rapl", "dvfs", "http", "none"]
    package_power_cap_watts: float | None = Field(default=None, ge=0, description="Cap applied per package.")
    packages: list[PackageStatus] | None = None
    max_freq_k_hz: int | None = Field(default=None, ge=0, alias="maxFreqKHz")
    throttle_pct: float | None = Field(default=None, ge=0, le=100)


class GpuStatus(ApiModel):
    backend: Literal["nvml", "http", "none"]
    cap_watts_per_gpu: float | None = Field(default=None, ge=0)
    gpus: int | None = Field(default=None, ge=0)


class NodePowerProfileStatus(ApiModel):
    """What the agent applied on the node, and whether it could."""

    observed_generation: int | None = Field(default=None, ge=0)
    profile: Profile | None = Field(default=None, description="Profile the agent last applied.")
    cpu: CpuStatus | None = None
    gpu: GpuStatus | None = None
    last_applied_time: datetime | None = None
    drift_corrections: int | None = Field(default=None, ge=0, description="Caps found reverted and re-applied.")
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
        AGE_COLUMN,
    ),
    description="Desired power profile of one node: written by the labeller, enforced by the agent.",
)
