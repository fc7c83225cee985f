"""``PowerProfile``: named per-core settings a Guaranteed pod asks for on its exclusive cores.

A pod requests a profile as the extended resource ``power.joulie.io/<profile>: N``, N equal to
the exclusive CPUs the kubelet's static CPU manager gives the container. The node agent
advertises one such resource per profile its node can honour, finds the container's cores
through the kubelet's PodResources API and tunes exactly those cores; the shared pool keeps
the node's own settings (``NodePowerProfile.spec.cpu``) and reserved CPUs are never touched.

The settings are the node controls' own shapes (:class:`CoreControls`), not a copy.
Per-node results live in ``NodePowerProfile.status.podProfiles``: a cluster-scoped profile
is shared by every node and cannot carry one node's result, so it has no status.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from pydantic import Field

from joulie.api.v1alpha1.common import AGE_COLUMN, API_VERSION, ApiModel, CrdSpec, PrinterColumn
from joulie.api.v1alpha1.nodepowerprofile import CoreControls

PP_KIND: Final = "PowerProfile"
PP_PLURAL: Final = "powerprofiles"

POD_PROFILE_DOMAIN: Final = "power.joulie.io"
"""Extended resources ``power.joulie.io/<profile>``: how a pod asks for a profile."""
POD_PROFILE_PREFIX: Final = f"{POD_PROFILE_DOMAIN}/"
PERFORMANCE_POD_PROFILE: Final = "performance"
"""The profile the extender keeps off eco nodes (see :mod:`joulie.core.supply`)."""

_RESOURCE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")


def pod_profile_resource(profile: str) -> str:
    """``power.joulie.io/<profile>``, the extended resource a pod requests."""
    return POD_PROFILE_PREFIX + profile


def pod_profile_of(resource: str) -> str | None:
    """The profile a resource name asks for, or ``None`` when it is not a pod power profile."""
    if not resource.startswith(POD_PROFILE_PREFIX):
        return None
    name = resource[len(POD_PROFILE_PREFIX) :]
    return name or None


def resource_name_problem(profile: str) -> str | None:
    """Why ``power.joulie.io/<profile>`` cannot be an extended resource name (None: it can)."""
    if not _RESOURCE_NAME.match(profile):
        return (
            f"{pod_profile_resource(profile)!r} is not a valid extended resource name "
            "(the profile name must be 1-63 lowercase letters, digits, '-' or '.')"
        )
    return None


class PowerProfileSpec(CoreControls):
    """Per-core settings for a pod's exclusive cores; absent = the core keeps the shared pool's value."""

    shared: bool = Field(
        default=False,
        description="true: the profile describes a shared pool (Kubernetes Power Manager's shared profiles). "
        "Joulie's shared pool follows the node's NodePowerProfile, so a shared profile is not advertised "
        "and pods cannot request it.",
    )


class PowerProfile(ApiModel):
    api_version: Literal["joulie.io/v1alpha1"] = API_VERSION
    kind: Literal["PowerProfile"] = PP_KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: PowerProfileSpec

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))


CRD = CrdSpec(
    kind=PP_KIND,
    plural=PP_PLURAL,
    short_names=("pwp",),
    spec_model=PowerProfileSpec,
    status_model=None,
    columns=(
        PrinterColumn("Shared", "boolean", ".spec.shared"),
        PrinterColumn("Governor", "string", ".spec.governor"),
        PrinterColumn("EPP", "string", ".spec.epp"),
        PrinterColumn("Min-MHz", "integer", ".spec.frequency.minMHz"),
        PrinterColumn("Max-MHz", "integer", ".spec.frequency.maxMHz"),
        PrinterColumn("Min-Pct", "number", ".spec.frequency.minPct", priority=1),
        PrinterColumn("Max-Pct", "number", ".spec.frequency.maxPct", priority=1),
        PrinterColumn("Max-Latency-us", "integer", ".spec.cstates.maxLatencyUs", priority=1),
        AGE_COLUMN,
    ),
    description="Per-core settings a Guaranteed pod requests for its exclusive CPUs as power.joulie.io/<name>.",
    validations=(
        {
            "rule": "size(self.metadata.name) <= 63",
            "message": "the name becomes the extended resource power.joulie.io/<name>: at most 63 characters",
        },
    ),
)
