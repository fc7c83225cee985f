"""PowerCappingPolicies enforced by the live runtime over HTTP (kmock, or JOULIE_TEST_KUBECONFIG).

The agents' part is played by writing what they write: ``status.power`` of each node's
NodePowerProfile. What is checked is what an operator sees: the caps in the profiles,
``kubectl get pcp`` (status, conditions) and the Events.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from joulie.kube.client import PCP_PATH
from labeller.kube.run import KubeRuntime
from tests.builders import node
from tests.kube.conftest import MERGE, Cluster, eventually
from tests.kube.helpers import create_policy, report_power, runtime

NODES = ["pb-a", "pb-b", "pb-c", "pb-d"]
ECO_CAP, PERF_CAP = 120, 5000


def policy_status(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.req("GET", f"{PCP_PATH}/{name}").get("status") or {}


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def cap(cluster: Cluster, name: str) -> float:
    return cluster.npp(name)["spec"]["cpu"]["packagePowerCapWatts"]


def profile(cluster: Cluster, name: str) -> str:
    return cluster.npp(name)["spec"]["profile"]


@pytest.fixture
def running(cluster: Cluster) -> Iterator[KubeRuntime]:
    for i, n in enumerate(NODES):
        cluster.add_node(node(n, **{"topology.joulie.io/rack": f"rack-{cluster.run_id}-{i // 2}"}))
    rt = runtime(cluster)
    rt.start()
    try:
        eventually(lambda: all(cluster.npp(n) for n in NODES), what="a profile per node")
        yield rt
    finally:
        rt.stop()


def reconciled(rt: KubeRuntime) -> None:
    result = rt.reconcile_once("test")
    assert result is not None and not result.errors, result and result.errors


def test_a_budget_below_demand_caps_eco_nodes_spares_performance_and_says_so(
    cluster: Cluster, running: KubeRuntime
) -> None:
    name = f"budget-{cluster.run_id}"
    for n in NODES:
        report_power(cluster, n, 400.0)  # 4 x (100 W overhead + 400 W packages) = 2000 W
    create_policy(cluster, name, {"powerCapLimit": 1500, "telemetry": {"nodeOverheadWatts": 100}})
    eventually(lambda: running.policies.get(name) is not None, what="the policy in the cache")
    eventually(lambda: all(running.profiles.get(f"node-{n}").power for n in NODES), what="the readings")
    reconciled(running)
    perf = [n for n in NODES if profile(cluster, n) == "performance"]
    eco = [n for n in NODES if profile(cluster, n) == "eco"]
    assert len(perf) == 2 and len(eco) == 2
    assert all(cap(cluster, n) == PERF_CAP for n in perf)
    eco_caps = [cap(cluster, n) for n in eco]
    assert all(c < ECO_CAP for c in eco_caps), eco_caps
    # performance keeps what it draws (+ margin); the rest fits what the eco caps allow
    assert sum(100 + 2 * c for c in eco_caps) <= 1500 - 2 * 500
    status = eventually(lambda: (s := policy_status(cluster, name)).get("state") and s, what="policy status")
    assert status["state"] == "OverBudget" and status["budgetWatts"] == 1470  # the split aims 2 % below the limit
    assert status["measuredPowerWatts"] == 2000 and status["headroomWatts"] == -500
    cond = conditions(status)
    assert cond["WithinBudget"]["status"] == "False" and cond["TelemetryFresh"]["status"] == "True"
    assert cond["BudgetInsufficient"]["status"] == "False"
    assert any(e["reason"] == "OverBudget" for e in cluster.events(name))
    # the agents now draw what the caps allow: within budget, and the transition is an Event
    for n in perf:
        report_power(cluster, n, 400.0)
    for n, c in zip(eco, eco_caps):
        report_power(cluster, n, 2 * c - 5)
    eventually(lambda: all(running.profiles.get(f"node-{n}").power.package_watts < 300 for n in eco), what="readings")
    reconciled(running)
    status = eventually(lambda: (s := policy_status(cluster, name))["state"] == "WithinBudget" and s, what="within")
    assert status["headroomWatts"] >= 0
    eventually(lambda: any(e["reason"] == "WithinBudget" for e in cluster.events(name)), what="WithinBudget event")
    plan = running.latest_plan().to_json()
    by_node = {d["name"]: d for d in plan["nodes"]}
    assert by_node[eco[0]]["budget"]["policy"] == name and by_node[eco[0]]["budgetShareWatts"] < 500
    # deleting the policy gives the nodes back the caps the labeller sets without it
    cluster.req("DELETE", f"{PCP_PATH}/{name}")
    eventually(lambda: running.policies.get(name) is None, what="the deletion seen")
    reconciled(running)
    assert sorted(cap(cluster, n) for n in NODES) == [ECO_CAP, ECO_CAP, PERF_CAP, PERF_CAP]


def test_stale_telemetry_keeps_the_caps_and_never_raises_them(cluster: Cluster, running: KubeRuntime) -> None:
    name = f"stale-{cluster.run_id}"
    for n in NODES:
        report_power(cluster, n, 400.0)
    create_policy(cluster, name, {"powerCapLimit": 1200, "telemetry": {"nodeOverheadWatts": 100}})
    eventually(lambda: running.policies.get(name) is not None, what="the policy in the cache")
    eventually(lambda: all(running.profiles.get(f"node-{n}").power for n in NODES), what="the readings")
    reconciled(running)
    before = {n: cap(cluster, n) for n in NODES}
    assert any(c < ECO_CAP for c in before.values())
    # the agents go quiet: their last readings are ten minutes old and show almost no load
    old = datetime.now(UTC).timestamp() - 600
    for n in NODES:
        report_power(cluster, n, 20.0, at=old)
    eventually(lambda: all(running.profiles.get(f"node-{n}").power.package_watts == 20 for n in NODES), what="old")
    reconciled(running)
    after = {n: cap(cluster, n) for n in NODES}
    assert all(after[n] <= before[n] for n in NODES), (before, after)
    fresh = conditions(eventually(lambda: conditions(s := policy_status(cluster, name)) and s))["TelemetryFresh"]
    assert fresh["status"] == "False" and fresh["reason"] == "TelemetryStale"
    assert "kept, never raised" in fresh["message"]


def test_an_unknown_algorithm_or_bad_parameters_hold_the_last_safe_caps(cluster: Cluster, running: KubeRuntime) -> None:
    name = f"algo-{cluster.run_id}"
    for n in NODES:
        report_power(cluster, n, 400.0)
    create_policy(cluster, name, {"powerCapLimit": 1200, "telemetry": {"nodeOverheadWatts": 100}})
    eventually(lambda: running.policies.get(name) is not None, what="the policy in the cache")
    eventually(lambda: all(running.profiles.get(f"node-{n}").power for n in NODES), what="the readings")
    reconciled(running)
    held = {n: cap(cluster, n) for n in NODES}
    patch = {"spec": {"customAlgorithm": {"name": "magic"}}}
    cluster.req("PATCH", f"{PCP_PATH}/{name}", patch, MERGE)
    eventually(lambda: (v := running.policies.get(name)) and v.spec and v.spec.custom_algorithm, what="the edit")
    for n in NODES:
        report_power(cluster, n, 10.0)  # the load is gone: a working split would raise the eco caps
    eventually(lambda: all(running.profiles.get(f"node-{n}").power.package_watts == 10 for n in NODES), what="idle")
    reconciled(running)
    assert {n: cap(cluster, n) for n in NODES} == held
    status = eventually(lambda: (s := policy_status(cluster, name))["state"] == "InvalidAlgorithm" and s)
    valid = conditions(status)["Valid"]
    assert valid["status"] == "False" and "unknown budget algorithm 'magic'" in valid["message"]
    assert "energy-aware-scheduling" in valid["message"]  # names what is registered
    bad = {"spec": {"customAlgorithm": {"name": "energy-aware-scheduling", "parameters": {"energyThreshold": -3}}}}
    cluster.req("PATCH", f"{PCP_PATH}/{name}", bad, MERGE)
    eventually(
        lambda: (v := running.policies.get(name)) and v.spec.custom_algorithm.name == "energy-aware-scheduling",
        what="the second edit",
    )
    reconciled(running)
    assert {n: cap(cluster, n) for n in NODES} == held
    valid = conditions(eventually(lambda: (s := policy_status(cluster, name)) and s))["Valid"]
    assert valid["status"] == "False" and "energyThreshold" in valid["message"]


def test_two_policies_selecting_the_same_node_are_an_error_on_both(cluster: Cluster, running: KubeRuntime) -> None:
    a, b = f"first-{cluster.run_id}", f"second-{cluster.run_id}"
    rack0 = f"rack-{cluster.run_id}-0"
    for n in NODES:
        report_power(cluster, n, 400.0)
    create_policy(cluster, a, {"powerCapLimit": 800, "nodeSelector": f"topology.joulie.io/rack={rack0}"})
    create_policy(cluster, b, {"powerCapLimit": 3000, "nodeSelector": f"joulie.io/test-run={cluster.run_id}"})
    eventually(lambda: running.policies.get(a) and running.policies.get(b), what="both policies in the cache")
    eventually(lambda: all(running.profiles.get(f"node-{n}").power for n in NODES), what="the readings")
    reconciled(running)
    for mine, other in ((a, b), (b, a)):
        status = eventually(lambda m=mine: (s := policy_status(cluster, m)).get("state") and s)
        assert status["state"] == "OverlappingPolicies"
        message = conditions(status)["Valid"]["message"]
        assert other in message and "pb-a" in message
        eventually(lambda m=mine: any(e["reason"] == "OverlappingPolicies" for e in cluster.events(m)))
    # neither moved a cap: the planner's caps stand
    assert sorted(cap(cluster, n) for n in NODES) == [ECO_CAP, ECO_CAP, PERF_CAP, PERF_CAP]


def test_a_cluster_without_the_policy_crd_still_plans_and_says_why(kmock_cluster, caplog) -> None:
    """`helm upgrade` never installs new CRDs: the labeller must not stall on the missing kind."""
    import logging

    caplog.set_level(logging.WARNING)
    kmock_cluster.emulator.resources.pop("joulie.io/v1alpha1/powercappingpolicies", None)
    for n in NODES:
        kmock_cluster.add_node(node(n))
    rt = runtime(kmock_cluster)
    rt.start()
    try:
        eventually(lambda: rt.ready()[0], 10, 0.05, "ready without the PowerCappingPolicy CRD")
        eventually(lambda: all(kmock_cluster.npp(n) for n in NODES), what="a profile per node")
        assert rt.informers[3].absent and "powercappingpolicies is not served" in caplog.text
    finally:
        rt.stop()
