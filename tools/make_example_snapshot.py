"""Regenerate joulie/examples/cluster-snapshot.yaml (a `kubectl get nodes,pods -A -o yaml` style List).

Run: python tools/make_example_snapshot.py
"""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TS = "2026-11-20T08:00:00Z"
NS_UUID = uuid.UUID("6f1c1c6e-9a53-4c5e-9a0e-5a3b8d9e0a01")


def uid(name: str) -> str:
    return str(uuid.uuid5(NS_UUID, name))


def node(name: str, labels: dict[str, str], cpu: str = "64", unschedulable: bool = False, gpus: int = 0) -> dict:
    base = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    }
    alloc = {"cpu": cpu, "ephemeral-storage": "452220352Ki", "memory": "263855040Ki", "pods": "110"}
    if gpus:
        alloc["nvidia.com/gpu"] = str(gpus)
    obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "creationTimestamp": TS,
            "labels": {**base, **labels},
            "name": name,
            "resourceVersion": "1000",
            "uid": uid(name),
        },
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "allocatable": alloc,
            "capacity": dict(alloc),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": TS,
                    "lastTransitionTime": TS,
                }
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "kubeletVersion": "v1.31.2",
                "operatingSystem": "linux",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kernelVersion": "6.1.0-26-amd64",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
            },
        },
    }
    if unschedulable:
        obj["spec"]["unschedulable"] = True
        obj["spec"]["taints"] = [{"effect": "NoSchedule", "key": "node.kubernetes.io/unschedulable", "timeAdded": TS}]
    return obj


PERF_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "joulie.io/power-profile", "operator": "NotIn", "values": ["eco"]}]}
            ]
        }
    }
}
ECO_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": "joulie.io/power-profile", "operator": "In", "values": ["eco"]},
                        {"key": "joulie.io/draining", "operator": "NotIn", "values": ["true"]},
                    ]
                }
            ]
        }
    }
}


def pod(
    ns: str,
    name: str,
    node_name: str | None,
    kind: str,
    cpu: str = "2",
    phase: str = "Running",
    unschedulable: bool = False,
) -> dict:
    spec: dict = {
        "containers": [
            {
                "name": "main",
                "image": "registry.example/batch:1.4",
                "resources": {"requests": {"cpu": cpu, "memory": "4Gi"}, "limits": {"cpu": cpu, "memory": "4Gi"}},
            }
        ],
        "restartPolicy": "Never" if kind != "general" else "Always",
        "schedulerName": "joulie-scheduler",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {
                "effect": "NoExecute",
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "tolerationSeconds": 300,
            }
        ],
    }
    if kind == "performance-affinity":
        spec["affinity"] = PERF_AFFINITY
    elif kind == "performance-selector":
        spec["nodeSelector"] = {"joulie.io/power-profile": "performance"}
    elif kind == "eco":
        spec["affinity"] = ECO_AFFINITY
    if node_name:
        spec["nodeName"] = node_name
    conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": TS}] if node_name else []
    if unschedulable:
        conditions = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "lastTransitionTime": TS,
                "message": "0/9 nodes are available: 6 node(s) didn't match Pod's node affinity/selector.",
            }
        ]
    status: dict = {"phase": phase, "conditions": conditions, "qosClass": "Guaranteed"}
    if node_name:
        status["hostIP"] = "10.0.0.10"
        status["startTime"] = TS
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "creationTimestamp": TS,
            "labels": {"app": name.rsplit("-", 1)[0]},
            "name": name,
            "namespace": ns,
            "resourceVersion": "2000",
            "uid": uid(f"{ns}/{name}"),
        },
        "spec": spec,
        "status": status,
    }


def main() -> None:
    managed = {"joulie.io/managed": "true"}
    items = [
        node("cp-1", {"node-role.kubernetes.io/control-plane": ""}, cpu="8"),
        node("worker-01", {**managed, "joulie.io/power-profile": "performance", "joulie.io/draining": "false"}),
        node("worker-02", {**managed, "joulie.io/power-profile": "performance", "joulie.io/draining": "false"}),
        node("worker-03", {**managed, "joulie.io/power-profile": "eco", "joulie.io/draining": "true"}),
        node("worker-04", {**managed, "joulie.io/power-profile": "eco", "joulie.io/draining": "false"}),
        node("worker-05", {**managed, "joulie.io/power-profile": "eco", "joulie.io/draining": "false"}),
        node("worker-06", {**managed}),
        node(
            "gpu-01",
            {**managed, "joulie.io/power-profile": "performance", "joulie.io/draining": "false"},
            cpu="96",
            gpus=8,
        ),
        node("worker-07", {**managed, "joulie.io/reserved": "true"}),
        node(
            "worker-08",
            {**managed, "joulie.io/power-profile": "eco", "joulie.io/draining": "false"},
            unschedulable=True,
        ),
    ]
    items += [
        pod("kube-system", "coredns-7c65d6cfc9-x8k2p", "cp-1", "general", cpu="100m"),
        pod("kube-system", "kube-proxy-4hz9d", "worker-01", "general", cpu="100m"),
        pod("batch", "solver-0", "worker-01", "performance-affinity", cpu="16"),
        pod("batch", "solver-1", "worker-01", "performance-affinity", cpu="16"),
        pod("batch", "solver-2", "worker-02", "performance-selector", cpu="16"),
        pod("batch", "render-7", "worker-03", "performance-affinity", cpu="8"),
        pod("batch", "solver-3", None, "performance-affinity", cpu="16", phase="Pending", unschedulable=True),
        pod("batch", "train-0", "gpu-01", "performance-affinity", cpu="24"),
        pod("batch", "solver-old", "worker-02", "performance-affinity", cpu="16", phase="Succeeded"),
        pod("reports", "nightly-etl-0", "worker-04", "eco", cpu="4"),
        pod("reports", "nightly-etl-1", "worker-05", "eco", cpu="4"),
        pod("reports", "nightly-etl-2", None, "eco", cpu="4", phase="Pending"),
        pod("web", "frontend-6d9f7b-abcde", "worker-04", "general", cpu="1"),
        pod("web", "frontend-6d9f7b-fghij", "worker-06", "general", cpu="1"),
        pod("web", "api-5c7d8-klmno", "worker-02", "general", cpu="2"),
    ]
    doc = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}
    out = ROOT / "joulie" / "examples" / "cluster-snapshot.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=True, width=120))
    print(out)


if __name__ == "__main__":
    main()
