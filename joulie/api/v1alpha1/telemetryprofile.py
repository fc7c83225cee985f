"""``TelemetryProfile``: how an agent reads telemetry and routes power controls for its node."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import Field

from joulie.api.v1alpha1.common import AGE_COLUMN, API_VERSION, ApiModel, CrdSpec, PrinterColumn, SpecModel

TP_KIND: Final = "TelemetryProfile"
TP_PLURAL: Final = "telemetryprofiles"


SourceType = Literal["none", "host", "http", "prometheus"]


class TelemetrySource(SpecModel):
    type: SourceType = "host"
    endpoint: str | None = Field(default=None, description="URL for http or prometheus sources.")
    query: str | None = Field(default=None, description="PromQL query for prometheus sources.")
    timeout_seconds: float | None = Field(default=None, gt=0, le=60)


class TelemetrySources(SpecModel):
    cpu: TelemetrySource | None = None
    gpu: TelemetrySource | None = None
    thermal: TelemetrySource | None = None
    context: TelemetrySource | None = None


class CpuControl(SpecModel):
    mode: Literal["auto", "rapl", "dvfs"] = "auto"
    type: Literal["host", "http", "none"] = Field(
        default="host", description="host writes sysfs; http posts to endpoint; none only reports."
    )
    endpoint: str | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=60)


class GpuControl(SpecModel):
    mode: Literal["auto", "powercap", "clocks"] = "auto"
    type: Literal["host", "http", "none"] = "host"
    endpoint: str | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=60)


class TelemetryControls(SpecModel):
    cpu: CpuControl | None = None
    gpu: GpuControl | None = None


class TelemetryTarget(SpecModel):
    scope: Literal["node", "cluster"] = Field(default="node", description="cluster applies to every node.")
    node_name: str | None = None


class TelemetryProfileSpec(SpecModel):
    target: TelemetryTarget
    sources: TelemetrySources | None = None
    controls: TelemetryControls | None = None


class ControlStatus(ApiModel):
    backend: str
    result: Literal["applied", "failed", "unsupported", "skipped"]
    message: str | None = None
    observed: dict[str, str] | None = Field(default=None, description="Values read back after writing.")
    updated_at: datetime | None = None


class ControlStatuses(ApiModel):
    cpu: ControlStatus | None = None
    gpu: ControlStatus | None = None


class TelemetryProfileStatus(ApiModel):
    control: ControlStatuses | None = None


class TelemetryProfile(ApiModel):
    api_version: Literal["joulie.io/v1alpha1"] = API_VERSION
    kind: Literal["TelemetryProfile"] = TP_KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: TelemetryProfileSpec
    status: TelemetryProfileStatus | None = None


CRD = CrdSpec(
    kind=TP_KIND,
    plural=TP_PLURAL,
    short_names=("tp",),
    spec_model=TelemetryProfileSpec,
    status_model=TelemetryProfileStatus,
    columns=(
        PrinterColumn("Node", "string", ".spec.target.nodeName"),
        PrinterColumn("Scope", "string", ".spec.target.scope"),
        PrinterColumn("CPU-Control", "string", ".spec.controls.cpu.type"),
        PrinterColumn("State", "string", ".status.control.cpu.result"),
        PrinterColumn("Applied", "date", ".status.control.cpu.updatedAt"),
        AGE_COLUMN,
    ),
    description="How an agent reads telemetry and routes power controls for its node.",
)
