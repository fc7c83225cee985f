"""The agent may patch only its own Node's ``power.joulie.io/*`` capacity (the admission policy, evaluated with
CEL exactly as Helm renders it); RBAC's ``nodes/status`` patch alone would let it rewrite any node's status."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.security.test_admission_policies import AGENT, NODE_NAME, evaluate, policies


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    return policies()["joulie-agent-node-capacity"]


def node(name: str = "n1", **extra_capacity: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}, "annotations": {"a": "b"}},
        "spec": {"podCIDR": "10.0.0.0/24"},
        "status": {
            "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110", **extra_capacity},
            "allocatable": {"cpu": "14", "memory": "62Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0"},
        },
    }


def request(user: str = AGENT, token_node: str | None = "n1") -> dict[str, Any]:
    return {
        "operation": "UPDATE",
        "subResource": "status",
        "userInfo": {"username": user, "extra": {NODE_NAME: [token_node]} if token_node else {}},
        "resource": {"group": "", "version": "v1", "resource": "nodes"},
    }


PP = "power.joulie.io/performance"


def test_the_agent_advertises_and_withdraws_its_profiles_on_its_own_node(policy):
    old, new = node(), node(**{PP: "14", "power.joulie.io/power": "14"})
    assert evaluate(policy, new, old, request()) == []
    assert evaluate(policy, old, new, request()) == [], "withdrawal"
    assert evaluate(policy, node(**{PP: "12"}), node(**{PP: "14"}), request()) == [], "a new count"


def test_not_another_node(policy):
    denied = evaluate(policy, node("n2", **{PP: "14"}), node("n2"), request(token_node="n1"))
    assert denied and "may only write the status of its own Node, not of n2" in denied[0]
    assert any("names no node" in m for m in evaluate(policy, node(), node(), request(token_node=None)))


@pytest.mark.parametrize("change", ["cpu", "gpu", "drop-memory", "allocatable", "condition", "address", "label"])
def test_nothing_else_on_its_node(policy, change):
    old = node()
    new = copy.deepcopy(old)
    if change == "cpu":
        new["status"]["capacity"]["cpu"] = "64"
    elif change == "gpu":
        new["status"]["capacity"]["nvidia.com/gpu"] = "8"
    elif change == "drop-memory":
        del new["status"]["capacity"]["memory"]
    elif change == "allocatable":
        new["status"]["allocatable"]["cpu"] = "16"
    elif change == "condition":
        new["status"]["conditions"][0]["status"] = "False"
    elif change == "address":
        new["status"]["addresses"] = []
    else:
        new["metadata"]["labels"]["joulie.io/power-profile"] = "performance"
    assert evaluate(policy, new, old, request()), f"{change} must be refused"


def test_the_kubelet_and_admins_are_not_the_policys_business(policy):
    assert evaluate(policy, node(cpu="64"), node(), request(user="system:node:n1")) is None
