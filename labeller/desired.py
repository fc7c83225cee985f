"""Desired Kubernetes state for one decision: node labels and the NodePowerProfile. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

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
from joulie.core.model import timestamp
from joulie.core.plan import CapSettings, FeedbackHold, NodeDecision
from labeller.templates import NO_CONTROLS, CpuControls, decision_controls

SINCE_ANNOTATION = f"{DOMAIN}/profile-since"
HOLD_UNTIL_ANNOTATION = f"{DOMAIN}/feedback-hold-until"
HOLD_PODS_ANNOTATION = f"{DOMAIN}/feedback-pods"
OWNED_ANNOTATIONS = (SINCE_ANNOTATION, HOLD_UNTIL_ANNOTATION, HOLD_PODS_ANNOTATION)
"""Annotations the labeller owns on NodePowerProfiles: the diff compares them, the writer replaces them."""
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


def _cpu(caps: CapSettings, controls: CpuControls = NO_CONTROLS) -> CpuCap | None:
    """spec.cpu: the profile's cap merged with its control template (None when both are empty)."""
    if caps.cpu_watts is None and caps.cpu_pct_of_max is None and controls.empty:
        return None
    return CpuCap.model_validate(
        {
            **controls.to_api(),
            "packagePowerCapWatts": caps.cpu_watts,
            "packagePowerCapPctOfMax": caps.cpu_pct_of_max,
        }
    )


def _gpu(caps: CapSettings) -> GpuCap | None:
    if caps.gpu_watts is None and caps.gpu_pct_of_max is None:
        return None
    return GpuCap(power_cap=GpuPowerCap(cap_watts_per_gpu=caps.gpu_watts, cap_pct_of_max=caps.gpu_pct_of_max))


def desired_spec(decision: NodeDecision, policy: str) -> NodePowerProfileSpec:
    return NodePowerProfileSpec(
        node_name=decision.name,
        profile=decision.profile,
        draining=decision.draining,
        cpu=_cpu(decision.caps, decision_controls(decision)),
        gpu=_gpu(decision.caps),
        policy=PolicyRef(name=policy),
    )


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc3339_micro(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any) -> float | None:
    """Unix time of an RFC 3339 annotation value; ``None`` when absent or malformed."""
    return timestamp(value)


def hold_annotations(hold: FeedbackHold | None) -> dict[str, str]:
    if hold is None:
        return {}
    return {HOLD_UNTIL_ANNOTATION: _rfc3339_micro(hold.until), HOLD_PODS_ANNOTATION: ",".join(sorted(hold.pods))}


def parse_hold(annotations: Mapping[str, str]) -> FeedbackHold | None:
    """The feedback hold recorded on a NodePowerProfile; ``None`` when absent or malformed."""
    until = parse_time(annotations.get(HOLD_UNTIL_ANNOTATION))
    pods = annotations.get(HOLD_PODS_ANNOTATION)
    if until is None or not isinstance(pods, str):
        return None
    return FeedbackHold(until=until, pods=frozenset(p for p in pods.split(",") if p))


def desired_annotations(decision: NodeDecision) -> dict[str, str]:
    annotations = {}
    if decision.since is not None:
        annotations[SINCE_ANNOTATION] = _rfc3339(decision.since)
    annotations.update(hold_annotations(decision.hold))
    return annotations


def annotations_differ(observed: Mapping[str, str], decision: NodeDecision) -> bool:
    """Whether the owned annotations need a write; a ``since`` is only ever added, never moved."""
    if decision.since is not None and SINCE_ANNOTATION not in observed:
        return True
    want = hold_annotations(decision.hold)
    return any(observed.get(k) != want.get(k) for k in (HOLD_UNTIL_ANNOTATION, HOLD_PODS_ANNOTATION))


def desired_npp(decision: NodeDecision, policy: str) -> NodePowerProfile:
    annotations = desired_annotations(decision)
    return NodePowerProfile(
        metadata={
            "name": npp_name(decision.name),
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": annotations,
        },
        spec=desired_spec(decision, policy),
    )


@lru_cache(maxsize=64)
def _spec_template(
    profile: str, draining: bool, caps: CapSettings, controls: CpuControls, policy: str
) -> dict[str, Any]:
    wire = NodePowerProfileSpec(
        node_name="-",
        profile=profile,
        draining=draining,
        cpu=_cpu(caps, controls),
        gpu=_gpu(caps),
        policy=PolicyRef(name=policy),
    ).to_api()
    del wire["nodeName"]
    return wire


def desired_spec_wire(decision: NodeDecision, policy: str) -> dict[str, Any]:
    """Wire form of :func:`desired_spec`, built from a cached template: the diff runs for every
    node on every tick, and validating 5000 pydantic models per tick would dominate it."""
    template = _spec_template(decision.profile, decision.draining, decision.caps, decision_controls(decision), policy)
    return {"nodeName": decision.name, **template}


def spec_differs(observed_spec: Mapping[str, Any] | None, decision: NodeDecision, policy: str) -> bool:
    """True when the NodePowerProfile's spec is not what the decision wants (compared on the wire form)."""
    return observed_spec != desired_spec_wire(decision, policy)
