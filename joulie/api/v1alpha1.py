"""Pydantic models of the ``joulie.io/v1alpha1`` custom resources.

These models are the single source of truth for the CRD shapes: the YAML under
``config/crd/bases`` is generated from them (``joulie crds``) and a test keeps the
two identical. Field constraints here (enums, minimums, required fields) become
the OpenAPI validation the API server enforces.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from joulie.api.labels import DOMAIN, Profile

GROUP: Final = DOMAIN
VERSION: Final = "v1alpha1"
API_VERSION: Final = "joulie.io/v1alpha1"
assert f"{GROUP}/{VERSION}" == API_VERSION

NPP_KIND: Final = "NodePowerProfile"
NPP_PLURAL: Final = "nodepowerprofiles"
TP_KIND: Final = "TelemetryProfile"
TP_PLURAL: Final = "telemetryprofiles"


def npp_name(node_name: str) -> str:
    """Name of the NodePowerProfile of ``node_name`` (upstream convention ``node-<node>``)."""
    return f"node-{node_name}"


class _Model(BaseModel):
    """Base for API models: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_api(self) -> dict[str, Any]:
        """The JSON-ready dict the API server expects (aliases, no unset optionals)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class _Spec(_Model):
    """Spec models refuse unknown fields, so a typo in a hand-written profile is an error."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# ---------------------------------------------------------------- conditions


class Condition(_Model):
    """A ``metav1.Condition``: the Kubernetes convention for reporting state."""

    type: str = Field(min_length=1, max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(default=None, ge=0)


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None = None,
    now: datetime | None = None,
) -> list[Condition]:
    """Return ``conditions`` with ``type_`` set; the transition time moves only when status changes."""
    now = now or datetime.now(UTC)
    status_str: Literal["True", "False"] = "True" if status else "False"
    out: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.type != type_:
            out.append(cond)
            continue
        found = True
        changed = cond.status != status_str
        out.append(
            Condition(
                type=type_,
                status=status_str,
                reason=reason,
                message=message,
                last_transition_time=now if changed else cond.last_transition_time,
                observed_generation=generation,
            )
        )
    if not found:
        out.append(
            Condition(
                type=type_,
                status=status_str,
                reason=reason,
                message=message,
                last_transition_time=now,
                observed_generation=generation,
            )
        )
    return out


# ---------------------------------------------------------------- NodePowerProfile


class CpuCap(_Spec):
    """CPU package power cap; watts win when both are given."""

    package_power_cap_watts: float | None = Field(
        default=None, ge=1, description="Cap per CPU package (RAPL package zone), in watts."
    )
    package_power_cap_pct_of_max: float | None = Field(
        default=None, ge=1, le=100, description="Cap per package as a percentage of the zone's maximum."
    )


class GpuPowerCap(_Spec):
    scope: Literal["perGpu"] = Field(default="perGpu", description="Caps apply to each GPU separately.")
    cap_watts_per_gpu: float | None = Field(default=None, ge=1, description="Board power limit per GPU, in watts.")
    cap_pct_of_max: float | None = Field(
        default=None, ge=1, le=100, description="Board power limit as a percentage of the GPU's maximum limit."
    )


class GpuCap(_Spec):
    power_cap: GpuPowerCap | None = None


class PolicyRef(_Spec):
    name: str = Field(min_length=1, description="Policy that produced this profile (provenance).")


class NodePowerProfileSpec(_Spec):
    node_name: str = Field(min_length=1, description="Node this profile targets.")
    profile: Profile = Field(description="Desired supply: performance or eco.")
    draining: bool | None = Field(
        default=None, description="True while the node is eco but still runs performance pods."
    )
    cpu: CpuCap | None = None
    gpu: GpuCap | None = None
    policy: PolicyRef | None = None


class PackageStatus(_Model):
    zone: str = Field(description="RAPL zone, for example intel-rapl:0.")
    cap_watts: float = Field(ge=0)


class CpuStatus(_Model):
    backend: Literal["rapl", "dvfs", "http", "none"]
    package_power_cap_watts: float | None = Field(default=None, ge=0, description="Cap applied per package.")
    packages: list[PackageStatus] | None = None
    max_freq_k_hz: int | None = Field(default=None, ge=0, alias="maxFreqKHz")
    throttle_pct: float | None = Field(default=None, ge=0, le=100)


class GpuStatus(_Model):
    backend: Literal["nvml", "http", "none"]
    cap_watts_per_gpu: float | None = Field(default=None, ge=0)
    gpus: int | None = Field(default=None, ge=0)


class NodePowerProfileStatus(_Model):
    """What the agent applied on the node, and whether it could."""

    observed_generation: int | None = Field(default=None, ge=0)
    profile: Profile | None = Field(default=None, description="Profile the agent last applied.")
    cpu: CpuStatus | None = None
    gpu: GpuStatus | None = None
    last_applied_time: datetime | None = None
    drift_corrections: int | None = Field(default=None, ge=0, description="Caps found reverted and re-applied.")
    conditions: list[Condition] | None = None


class NodePowerProfile(_Model):
    api_version: Literal["joulie.io/v1alpha1"] = API_VERSION
    kind: Literal["NodePowerProfile"] = NPP_KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: NodePowerProfileSpec
    status: NodePowerProfileStatus | None = None


# ---------------------------------------------------------------- TelemetryProfile

SourceType = Literal["none", "host", "http", "prometheus"]


class TelemetrySource(_Spec):
    type: SourceType = "host"
    endpoint: str | None = Field(default=None, description="URL for http or prometheus sources.")
    query: str | None = Field(default=None, description="PromQL query for prometheus sources.")
    timeout_seconds: float | None = Field(default=None, gt=0, le=60)


class TelemetrySources(_Spec):
    cpu: TelemetrySource | None = None
    gpu: TelemetrySource | None = None
    thermal: TelemetrySource | None = None
    context: TelemetrySource | None = None


class CpuControl(_Spec):
    mode: Literal["auto", "rapl", "dvfs"] = "auto"
    type: Literal["host", "http", "none"] = Field(
        default="host", description="host writes sysfs; http posts to endpoint; none only reports."
    )
    endpoint: str | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=60)


class GpuControl(_Spec):
    mode: Literal["auto", "powercap", "clocks"] = "auto"
    type: Literal["host", "http", "none"] = "host"
    endpoint: str | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=60)


class TelemetryControls(_Spec):
    cpu: CpuControl | None = None
    gpu: GpuControl | None = None


class TelemetryTarget(_Spec):
    scope: Literal["node", "cluster"] = Field(default="node", description="cluster applies to every node.")
    node_name: str | None = None


class TelemetryProfileSpec(_Spec):
    target: TelemetryTarget
    sources: TelemetrySources | None = None
    controls: TelemetryControls | None = None


class ControlStatus(_Model):
    backend: str
    result: Literal["applied", "failed", "unsupported", "skipped"]
    message: str | None = None
    observed: dict[str, str] | None = Field(default=None, description="Values read back after writing.")
    updated_at: datetime | None = None


class ControlStatuses(_Model):
    cpu: ControlStatus | None = None
    gpu: ControlStatus | None = None


class TelemetryProfileStatus(_Model):
    control: ControlStatuses | None = None


class TelemetryProfile(_Model):
    api_version: Literal["joulie.io/v1alpha1"] = API_VERSION
    kind: Literal["TelemetryProfile"] = TP_KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: TelemetryProfileSpec
    status: TelemetryProfileStatus | None = None
