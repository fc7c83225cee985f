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
from joulie.api.v1alpha1.nodepowerprofile import (
    CONTROL_NAMES,
    NPP_KIND,
    NPP_PLURAL,
    ControlName,
    ControlResult,
    CpuCap,
    CpuControlStatus,
    CpuStatus,
    CStateInfo,
    CStates,
    Epp,
    FrequencyInfo,
    FrequencyRange,
    GpuCap,
    GpuPowerCap,
    GpuStatus,
    NodeCapabilities,
    NodePowerProfile,
    NodePowerProfileSpec,
    NodePowerProfileStatus,
    PackageStatus,
    PolicyRef,
    RaplZoneInfo,
    UncoreDie,
    npp_name,
)
from joulie.api.v1alpha1.nodepowerprofile import CRD as _NPP_CRD
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

CRDS: tuple[CrdSpec, ...] = (_NPP_CRD, _TP_CRD)
"""Every resource ``joulie crds`` generates, in file order."""

__all__ = [
    "AGE_COLUMN",
    "API_VERSION",
    "CONTROL_NAMES",
    "CRDS",
    "GROUP",
    "NPP_KIND",
    "NPP_PLURAL",
    "TP_KIND",
    "TP_PLURAL",
    "VERSION",
    "ApiModel",
    "CStateInfo",
    "CStates",
    "Condition",
    "ControlName",
    "ControlResult",
    "ControlStatus",
    "ControlStatuses",
    "CpuCap",
    "CpuControl",
    "CpuControlStatus",
    "CpuStatus",
    "CrdSpec",
    "Epp",
    "FrequencyInfo",
    "FrequencyRange",
    "GpuCap",
    "GpuControl",
    "GpuPowerCap",
    "GpuStatus",
    "NodeCapabilities",
    "NodePowerProfile",
    "NodePowerProfileSpec",
    "NodePowerProfileStatus",
    "PackageStatus",
    "PolicyRef",
    "PrinterColumn",
    "RaplZoneInfo",
    "SourceType",
    "SpecModel",
    "TelemetryControls",
    "TelemetryProfile",
    "TelemetryProfileSpec",
    "TelemetryProfileStatus",
    "TelemetrySource",
    "TelemetrySources",
    "TelemetryTarget",
    "UncoreDie",
    "condition_column",
    "npp_name",
    "set_condition",
]
