"""Builders of Node and Pod API objects (the JSON the API server sends) for tests."""

from __future__ import annotations

from typing import Any

from joulie.api.labels import DRAINING_LABEL, MANAGED_LABEL, POWER_PROFILE_LABEL

KEY = POWER_PROFILE_LABEL


def node(
    name: str,
    profile: str | None = None,
    draining: bool | None = None,
    managed: bool = True,
    cpu: str = "32",
    unschedulable: bool = False,
    **labels: str,
) -> dict[str, Any]:
    lab = {"kubernetes.io/hostname": name, **labels}
    if managed:
        lab[MANAGED_LABEL] = "true"
    if profile:
        lab[POWER_PROFILE_LABEL] = profile
    if draining is not None:
        lab[DRAINING_LABEL] = "true" if draining else "false"
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": lab},
        "spec": {},
        "status": {"allocatable": {"cpu": cpu, "memory": "128Gi", "pods": "110"}},
    }
    if unschedulable:
        obj["spec"]["unschedulable"] = True
    return obj


def affinity(*terms: list[tuple[str, str, list[str] | None]]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": k, "operator": op, **({"values": v} if v is not None else {})} for k, op, v in term
                        ]
                    }
                    for term in terms
                ]
            }
        }
    }


def pod(
    name: str,
    node_name: str | None = None,
    demand: str = "general",
    phase: str | None = None,
    cpu: str = "1",
    namespace: str = "default",
    deleting: bool = False,
    unschedulable: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}]}
    if demand == "performance":
        spec["affinity"] = affinity([(KEY, "NotIn", ["eco"])])
    elif demand == "eco":
        spec["affinity"] = affinity([(KEY, "In", ["eco"]), (DRAINING_LABEL, "NotIn", ["true"])])
    if node_name:
        spec["nodeName"] = node_name
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-22T00:00:00Z"
    status: dict[str, Any] = {"phase": phase or ("Running" if node_name else "Pending")}
    if unschedulable:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
