"""The Kubernetes-facing contract: label keys, annotations and CRD models.

Everything that names a label, a CRD field or a group/version imports it from here,
so the wire contract has exactly one definition.
"""

from joulie.api.labels import (
    DEFAULT_NODE_SELECTOR,
    DRAINING_LABEL,
    DRAINING_NOT,
    DRAINING_YES,
    ECO,
    GENERAL,
    MANAGED_LABEL,
    PERFORMANCE,
    POWER_PROFILE_LABEL,
    RESERVED_LABEL,
    DemandClass,
    Profile,
)
from joulie.api.v1alpha1 import (
    API_VERSION,
    GROUP,
    VERSION,
    Condition,
    NodePowerProfile,
    NodePowerProfileSpec,
    NodePowerProfileStatus,
    TelemetryProfile,
    TelemetryProfileSpec,
    npp_name,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_NODE_SELECTOR",
    "DRAINING_LABEL",
    "DRAINING_NOT",
    "DRAINING_YES",
    "ECO",
    "GENERAL",
    "GROUP",
    "MANAGED_LABEL",
    "PERFORMANCE",
    "POWER_PROFILE_LABEL",
    "RESERVED_LABEL",
    "VERSION",
    "Condition",
    "DemandClass",
    "NodePowerProfile",
    "NodePowerProfileSpec",
    "NodePowerProfileStatus",
    "Profile",
    "TelemetryProfile",
    "TelemetryProfileSpec",
    "npp_name",
]
