"""The chart's ValidatingAdmissionPolicies, evaluated with a CEL implementation (item 13).

RBAC cannot say "only your own node": the policies can. Each case is a request as the API
server would pass it to the policy (``object``, ``oldObject``, ``request``), and the policy's
matchConditions, variables and validations are evaluated exactly as rendered by Helm.
"""

from __future__ import annotations

import copy
from typing import Any

import celpy
import pytest

from tests.install.chart import NAMESPACE, render

AGENT = f"system:serviceaccount:{NAMESPACE}:joulie-agent"
LABELLER = f"system:serviceaccount:{NAMESPACE}:joulie"
NODE_NAME = "authentication.kubernetes.io/node-name"


def policies() -> dict[str, dict[str, Any]]:
    rendered = render({"admissionPolicies": {"enabled": True}})
    found = {p["metadata"]["name"]: p for p in rendered.of_kind("ValidatingAdmissionPolicy")}
    bindings = {b["spec"]["policyName"] for b in rendered.of_kind("ValidatingAdmissionPolicyBinding")}
    assert bindings == set(found), "every policy is bound"
    return found


def evaluate(policy: dict[str, Any], obj: Any, old: Any, request: dict[str, Any]) -> list[str] | None:
    """``None`` when the policy does not match the request, else the failed validations' messages."""
    env = celpy.Environment()

    def run(expr: str, activation: dict[str, Any]) -> Any:
        return env.program(env.compile(expr)).evaluate(activation)

    activation: dict[str, Any] = {
        "object": celpy.json_to_cel(obj),
        "oldObject": celpy.json_to_cel(old),
        "request": celpy.json_to_cel(request),
    }
    spec = policy["spec"]
    for cond in spec.get("matchConditions", []):
        if not run(cond["expression"], activation):
            return None
    variables: dict[str, Any] = {}
    for var in spec.get("variables", []):
        activation["variables"] = celpy.json_to_cel(variables) if variables else celpy.celtypes.MapType({})
        variables[var["name"]] = run(var["expression"], activation)
        activation["variables"] = celpy.celtypes.MapType(
            {celpy.celtypes.StringType(k): v for k, v in variables.items()}
        )
    failed = []
    for v in spec["validations"]:
        if not run(v["expression"], activation):
            msg = v.get("message") or str(run(v["messageExpression"], activation))
            failed.append(msg)
    return failed


def status_request(user: str, resource: str, node: str | None) -> dict[str, Any]:
    extra = {NODE_NAME: [node]} if node else {}
    return {
        "operation": "UPDATE",
        "subResource": "status",
        "userInfo": {"username": user, "extra": extra},
        "resource": {"group": "joulie.io", "version": "v1alpha1", "resource": resource},
    }


def npp(node: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"node-{node}"},
        "spec": {"nodeName": node, "profile": "eco"},
        "status": {"profile": "eco"},
    }


def tp(node: str | None) -> dict[str, Any]:
    target = {"scope": "node", "nodeName": node} if node else {"scope": "cluster"}
    return {"metadata": {"name": "tp"}, "spec": {"target": target}}


@pytest.fixture(scope="module")
def agent_policy() -> dict[str, Any]:
    return policies()["joulie-agent-own-node"]


@pytest.fixture(scope="module")
def labeller_policy() -> dict[str, Any]:
    return policies()["joulie-labeller-supply-labels"]


def test_an_agent_writes_its_own_nodes_status(agent_policy):
    assert evaluate(agent_policy, npp("n1"), npp("n1"), status_request(AGENT, "nodepowerprofiles", "n1")) == []
    assert evaluate(agent_policy, tp("n1"), tp("n1"), status_request(AGENT, "telemetryprofiles", "n1")) == []


def test_an_agent_cannot_forge_another_nodes_status(agent_policy):
    denied = evaluate(agent_policy, npp("n2"), npp("n2"), status_request(AGENT, "nodepowerprofiles", "n1"))
    assert denied and "may only write the status of its own node, not of n2" in denied[0]
    denied = evaluate(agent_policy, tp("n2"), tp("n2"), status_request(AGENT, "telemetryprofiles", "n1"))
    assert denied
    cluster_scoped = evaluate(agent_policy, tp(None), tp(None), status_request(AGENT, "telemetryprofiles", "n1"))
    assert cluster_scoped and "a cluster-scoped object" in cluster_scoped[0]


def test_a_token_without_a_node_name_is_refused(agent_policy):
    denied = evaluate(agent_policy, npp("n1"), npp("n1"), status_request(AGENT, "nodepowerprofiles", None))
    assert denied and any("names no node" in m for m in denied)


def test_other_users_are_not_the_policys_business(agent_policy):
    admin = status_request("kubernetes-admin", "nodepowerprofiles", None)
    assert evaluate(agent_policy, npp("n2"), npp("n2"), admin) is None


def node(**labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "n1",
            "labels": {"kubernetes.io/hostname": "n1", **labels},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": "10.0.0.0/24"},
        "status": {"allocatable": {"cpu": "8"}},
    }


def node_request(user: str = LABELLER) -> dict[str, Any]:
    return {
        "operation": "UPDATE",
        "userInfo": {"username": user, "extra": {}},
        "resource": {"group": "", "version": "v1", "resource": "nodes"},
    }


def test_the_labeller_sets_and_removes_the_supply_labels(labeller_policy):
    old = node(**{"joulie.io/managed": "true"})
    new = node(**{"joulie.io/managed": "true", "joulie.io/power-profile": "eco", "joulie.io/draining": "false"})
    assert evaluate(labeller_policy, new, old, node_request()) == []
    assert evaluate(labeller_policy, old, new, node_request()) == []  # removal (a node left management)


@pytest.mark.parametrize("change", ["label", "managed", "annotation", "taint", "cordon"])
def test_the_labeller_cannot_touch_anything_else_on_a_node(labeller_policy, change):
    old = node(**{"joulie.io/managed": "true"})
    new = copy.deepcopy(old)
    if change == "label":
        new["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = ""
    elif change == "managed":
        del new["metadata"]["labels"]["joulie.io/managed"]
    elif change == "annotation":
        new["metadata"]["annotations"]["x"] = "y"
    elif change == "taint":
        new["spec"]["taints"] = [{"key": "k", "effect": "NoSchedule"}]
    else:
        new["spec"]["unschedulable"] = True
    assert evaluate(labeller_policy, new, old, node_request())
    assert evaluate(labeller_policy, new, old, node_request("system:node:n1")) is None  # kubelet: not ours
