"""Desired Kubernetes state for one decision: node labels and the NodePowerProfile. Pure."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from joulie.api.labels import DOMAIN, DRAINING_LABEL, DRAINING_NOT, DRAINING_YES, POWER_PROFILE_LABEL
from joulie.api.v1alpha1 import (
    CpuCap,
    GpuCap,
    GpuPowerCap,
    NodePowerProfile,
    NodePowerProfileSpec,
    PolicyRef,
    npp_name,
)
from labeller.planner import NodeDecision

SINCE_ANNOTATION = f"{DOMAIN}/profile-since"
REASON_ANNOTATION = f"{DOMAIN}/reason"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "joulie-labeller"


def desired_labels(decision: NodeDecision) -> dict[str, str]:
    return {
        POWER_PROFILE_LABEL: decision.profile,
        DRAINING_LABEL: DRAINING_YES if decision.draining else DRAINING_NOT,
    }


def labels_patch(current: Mapping[str, str], decision: NodeDecision) -> dict[str, str] | None:
    """The label changes to make (``None`` when the node already advertises the decision)."""
    want = desired_labels(decision)
    changes = {k: v for k, v in want.items() if current.get(k) != v}
    return changes or None


def desired_spec(decision: NodeDecision, policy: str) -> NodePowerProfileSpec:
    caps = decision.caps
    cpu = None
    if caps.cpu_watts is not None or caps.cpu_pct_of_max is not None:
        cpu = CpuCap(package_power_cap_watts=caps.cpu_watts, package_power_cap_pct_of_max=caps.cpu_pct_of_max)
    gpu = None
    if caps.gpu_watts is not None or caps.gpu_pct_of_max is not None:
        gpu = GpuCap(power_cap=GpuPowerCap(cap_watts_per_gpu=caps.gpu_watts, cap_pct_of_max=caps.gpu_pct_of_max))
    return NodePowerProfileSpec(
        node_name=decision.name,
        profile=decision.profile,
        draining=decision.draining,
        cpu=cpu,
        gpu=gpu,
        policy=PolicyRef(name=policy),
    )


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_since(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def desired_npp(decision: NodeDecision, policy: str) -> NodePowerProfile:
    annotations = {}
    if decision.since is not None:
        annotations[SINCE_ANNOTATION] = _rfc3339(decision.since)
    return NodePowerProfile(
        metadata={
            "name": npp_name(decision.name),
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": annotations,
        },
        spec=desired_spec(decision, policy),
    )


def spec_differs(observed_spec: Mapping[str, Any] | None, decision: NodeDecision, policy: str) -> bool:
    """True when the NodePowerProfile's spec is not what the decision wants (compared on the wire form)."""
    return observed_spec != desired_spec(decision, policy).to_api()
