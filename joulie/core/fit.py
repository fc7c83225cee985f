"""Would a pending pod fit a node, were the node promoted to performance? Pure.

Feedback promotes an eco node for a performance pod the scheduler could not place. That
only helps when the pod would then fit there: enough free CPU, memory, GPUs and any other
resource it requests, every taint of the node tolerated, and its node selector and
required node affinity satisfied by the node's labels *after* the promotion
(``joulie.io/power-profile=performance``, not draining). A pod no promotion could help (a
64Ti memory request, a typo in its affinity, a taint it does not tolerate) must not make
nodes burn power. The node-affinity semantics are kube-scheduler's (NodeSelectorRequirement).
"""

from __future__ import annotations

from collections.abc import Mapping

from joulie.api.labels import DRAINING_LABEL, DRAINING_NOT, PERFORMANCE, POWER_PROFILE_LABEL
from joulie.core.model import GPU_RESOURCES, NodeInfo, NodeRequirement, PodInfo, SchedulingNeeds

_COUNTED = frozenset({"cpu", "memory", "pods", *GPU_RESOURCES})
"""Resources checked against what is in use on the node; any other is checked against allocatable."""
_BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


def requirement_matches(req: NodeRequirement, labels: Mapping[str, str]) -> bool:
    value = labels.get(req.key)
    if req.operator == "In":
        return value is not None and value in req.values
    if req.operator == "NotIn":
        return value is None or value not in req.values
    if req.operator == "Exists":
        return value is not None
    if req.operator == "DoesNotExist":
        return value is None
    if req.operator in ("Gt", "Lt"):
        if value is None or len(req.values) != 1:
            return False
        try:
            lhs, rhs = int(value), int(req.values[0])
        except ValueError:
            return False
        return lhs > rhs if req.operator == "Gt" else lhs < rhs
    return False


def affinity_matches(needs: SchedulingNeeds, labels: Mapping[str, str]) -> bool:
    """``nodeSelector`` AND any one required term (a term with no requirements matches nothing)."""
    if any(labels.get(k) != v for k, v in needs.node_selector.items()):
        return False
    if not needs.required_terms:
        return True
    return any(term and all(requirement_matches(r, labels) for r in term) for term in needs.required_terms)


def tolerates(needs: SchedulingNeeds, node: NodeInfo) -> bool:
    return all(
        any(t.tolerates(taint) for t in needs.tolerations) for taint in node.taints if taint.effect in _BLOCKING_EFFECTS
    )


def fits_if_promoted(pod: PodInfo, node: NodeInfo, cpu_used: int, memory_used: int, gpus_used: int) -> bool:
    """Whether ``pod`` could be scheduled on ``node`` once the node is labelled performance."""
    if node.cpu_allocatable_millis and node.cpu_allocatable_millis - cpu_used < pod.cpu_request_millis:
        return False
    if node.memory_allocatable_bytes and node.memory_allocatable_bytes - memory_used < pod.memory_request_bytes:
        return False
    if pod.gpu_request and node.gpu_allocatable - gpus_used < pod.gpu_request:
        return False
    needs = pod.needs
    if needs is None:
        return True
    for resource, amount in needs.requests.items():
        if resource not in _COUNTED and node.allocatable.get(resource, 0) < amount:
            return False
    if not tolerates(needs, node):
        return False
    promoted = {**node.labels, POWER_PROFILE_LABEL: PERFORMANCE, DRAINING_LABEL: DRAINING_NOT}
    return affinity_matches(needs, promoted)
