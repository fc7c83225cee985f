"""The ``joulie.io/v1alpha1`` resources: one module per kind, re-exported here.

These pydantic models are the single source of truth for the CRD shapes: the YAML under
``config/crd/bases`` is generated from them (``joulie crds``, :mod:`joulie.api.crdgen`)
and a test keeps the two identical. Field constraints here (enums, minimums, required
fields) become the OpenAPI validation the API server enforces. A new kind is a new module
with its models and a ``CRD`` spec, listed in :data:`CRDS`.
"""

from __future__ import annotations

from joulie.api.v1alpha1.common import (
    AGE_COLUMN,
    API_VERSION,
    GROUP,
    VERSION,
    ApiModel,
    Condition,
    CrdSpec,
    PrinterColumn,
    SpecModel,
    condition_column,
    set_condition,
)
from joulie.api.v1alpha1.facilitytelemetry import CRD as _FT_CRD
from joulie.api.v1alpha1.facilitytelemetry import (
    FT_KIND,
    FT_PLURAL,
    FacilityTelemetryTemplate,
    FacilityTelemetryTemplateSpec,
    FacilityTelemetryTemplateStatus,
    duration_seconds,
)
from joulie.api.v1alpha1.nodepowerprofile import CRD as _NPP_CRD
from joulie.api.v1alpha1.nodepowerprofile import (
    NPP_KIND,
    NPP_PLURAL,
    CpuCap,
    CpuStatus,
    GpuCap,
    GpuPowerCap,
    GpuStatus,
    NodePowerProfile,
    NodePowerProfileSpec,
    NodePowerProfileStatus,
    PackageStatus,
    PolicyRef,
    npp_name,
)
from joulie.api.v1alpha1.telemetryprofile import CRD as _TP_CRD
from joulie.api.v1alpha1.telemetryprofile import (
    TP_KIND,
    TP_PLURAL,
    ControlStatus,
    ControlStatuses,
    CpuControl,
    GpuControl,
    SourceType,
    TelemetryControls,
    TelemetryProfile,
    TelemetryProfileSpec,
    TelemetryProfileStatus,
    TelemetrySource,
    TelemetrySources,
    TelemetryTarget,
)

CRDS: tuple[CrdSpec, ...] = (_NPP_CRD, _TP_CRD, _FT_CRD)
"""Every resource ``joulie crds`` generates, in file order."""

__all__ = [
    "AGE_COLUMN",
    "API_VERSION",
    "CRDS",
    "FT_KIND",
    "FT_PLURAL",
    "GROUP",
    "NPP_KIND",
    "NPP_PLURAL",
    "TP_KIND",
    "TP_PLURAL",
    "VERSION",
    "ApiModel",
    "Condition",
    "ControlStatus",
    "ControlStatuses",
    "CpuCap",
    "CpuControl",
    "CpuStatus",
    "CrdSpec",
    "FacilityTelemetryTemplate",
    "FacilityTelemetryTemplateSpec",
    "FacilityTelemetryTemplateStatus",
    "GpuCap",
    "GpuControl",
    "GpuPowerCap",
    "GpuStatus",
    "NodePowerProfile",
    "NodePowerProfileSpec",
    "NodePowerProfileStatus",
    "PackageStatus",
    "PolicyRef",
    "PrinterColumn",
    "SourceType",
    "SpecModel",
    "TelemetryControls",
    "TelemetryProfile",
    "TelemetryProfileSpec",
    "TelemetryProfileStatus",
    "TelemetrySource",
    "TelemetrySources",
    "TelemetryTarget",
    "condition_column",
    "duration_seconds",
    "npp_name",
    "set_condition",
]
