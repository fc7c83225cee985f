"""The live runtime end to end: watches -> plan -> writes, over HTTP."""

from __future__ import annotations

import time

import pytest

from labeller.kube.run import KubeRuntime
from tests.builders import node, pod
from tests.kube.conftest import Cluster, KmockCluster, eventually
from tests.kube.helpers import runtime

NODES = ["rt-a", "rt-b", "rt-c", "rt-d"]


def profiles(cluster: Cluster, names: list[str]) -> dict[str, str | None]:
    out = {}
    for n in names:
        obj = cluster.npp(n)
        out[n] = obj["spec"]["profile"] if obj else None
    return out


@pytest.fixture
def running(cluster: Cluster):
    for n in NODES:
        cluster.add_node(node(n))
    rt = runtime(cluster)
    rt.start()
    try:
        eventually(lambda: rt.reconciles >= 1, what="the startup reconcile")
        yield rt
    finally:
        rt.stop()


def test_first_pass_writes_labels_and_one_profile_per_node_second_pass_writes_nothing(
    cluster: Cluster, running: KubeRuntime
) -> None:
    got = profiles(cluster, NODES)
    assert sorted(got.values()) == ["eco", "eco", "performance", "performance"]
    for n in NODES:
        labels = cluster.node_labels(n)
        assert labels["joulie.io/power-profile"] == got[n]
        assert labels["joulie.io/draining"] == "false"
        spec = cluster.npp(n)["spec"]
        assert spec["nodeName"] == n
        assert spec["cpu"]["packagePowerCapWatts"] == (5000 if got[n] == "performance" else 120)
    time.sleep(0.5)  # let the watch echoes of our own writes arrive
    before = cluster.writes()
    for _ in range(3):
        result = running.reconcile_once("tick")
        assert result is not None and result.write_count == 0 and not result.errors
    time.sleep(0.3)
    assert cluster.writes() == before, "a steady state must cost no API writes"


def test_node_leaving_management_loses_its_profile_and_labels(cluster: Cluster, running: KubeRuntime) -> None:
    assert cluster.npp("rt-d") is not None
    cluster.label_node("rt-d", {"joulie.io/managed": None})
    eventually(lambda: cluster.npp("rt-d") is None, what="the profile of rt-d to be collected")
    eventually(
        lambda: not {"joulie.io/power-profile", "joulie.io/draining"} & set(cluster.node_labels("rt-d")),
        what="our labels to leave rt-d",
    )
    eventually(
        lambda: any(e["reason"] == "PowerProfileReleased" for e in cluster.events("rt-d")),
        what="a PowerProfileReleased event",
    )
    # the other three are re-planned: round(3 * 0.5) = 2 performance
    eventually(
        lambda: sorted(v for v in profiles(cluster, NODES[:3]).values()) == ["eco", "performance", "performance"],
        what="the remaining nodes re-planned",
    )


def test_hand_edited_profile_is_reverted_with_a_warning_event(cluster: Cluster, running: KubeRuntime) -> None:
    target = next(n for n, p in profiles(cluster, NODES).items() if p == "eco")
    want = cluster.npp(target)["spec"]
    cluster.req(
        "PATCH",
        f"/apis/joulie.io/v1alpha1/nodepowerprofiles/node-{target}",
        {
            "spec": {
                "profile": "performance",
                "cpu": {"packagePowerCapWatts": 900},
                "gpu": {"powerCap": {"capWattsPerGpu": 50}},
            }
        },
        "application/merge-patch+json",
    )
    eventually(lambda: cluster.npp(target)["spec"] == want, what="the hand edit to be reverted")
    warnings = eventually(
        lambda: [e for e in cluster.events(target) if e["reason"] == "ProfileReverted"], what="a ProfileReverted event"
    )
    assert warnings and warnings[0]["type"] == "Warning"
    assert warnings[0]["involvedObject"]["kind"] == "Node"
    assert warnings[0]["reportingComponent"] == "joulie-labeller"


def test_deleted_profile_is_recreated(cluster: Cluster, running: KubeRuntime) -> None:
    spec = cluster.npp("rt-a")["spec"]
    cluster.req("DELETE", "/apis/joulie.io/v1alpha1/nodepowerprofiles/node-rt-a")
    eventually(lambda: (cluster.npp("rt-a") or {}).get("spec") == spec, what="the profile to come back")


def test_pending_performance_pods_trigger_a_reconcile_without_waiting_for_the_tick(cluster: Cluster) -> None:
    for n in NODES:
        cluster.add_node(node(n))
    rt = runtime(cluster, interval=3600)
    rt.start()
    try:
        eventually(lambda: rt.reconciles >= 1, what="the startup reconcile")
        # the scheduler marks performance pods Unschedulable: the feedback floor promotes a node at once
        for i in range(3):
            cluster.add_pod(pod(f"rt-q{i}", None, "performance", unschedulable=True))
        # (one more node per burst of reports: 3 or 4 depending on how the pods' events batch)
        eventually(
            lambda: sum(1 for p in profiles(cluster, NODES).values() if p == "performance") >= 3,
            what="a promotion for the unschedulable performance pods",
        )
        # the writes can be visible a moment before the reconcile that made them is counted
        eventually(lambda: rt.reconciles >= 2, what="the event-triggered reconcile to be counted")
    finally:
        rt.stop()


def test_general_pod_churn_does_not_trigger_reconciles(cluster: Cluster, running: KubeRuntime) -> None:
    time.sleep(0.3)
    before = running.reconciles
    for i in range(5):
        cluster.add_pod(pod(f"rt-g{i}", "rt-a", "general"))
    time.sleep(0.5)
    assert running.reconciles == before


def test_api_outage_keeps_the_runtime_alive_unready_and_it_recovers(kmock_cluster: KmockCluster) -> None:
    c = kmock_cluster
    for n in NODES:
        c.add_node(node(n))
    rt = runtime(c)
    rt.start()
    try:
        eventually(lambda: rt.reconciles >= 1, what="the startup reconcile")
        assert rt.ready()[0]
        c.stop_server()
        eventually(lambda: not rt.ready()[0], what="readiness to fail")
        _ok, why = rt.ready()
        assert "unreachable" in why
        assert rt.healthy()[0], "an outage is not a reason to restart the process"
        writes = c.writes()
        assert rt.reconcile_once("tick") is None  # no writes from a view we cannot trust
        time.sleep(0.5)
        c.start_server()
        eventually(lambda: rt.ready()[0], timeout=15, what="readiness to recover")
        assert c.writes() == writes
        c.label_node("rt-a", {"joulie.io/reserved": "true"})  # watches work again
        eventually(lambda: rt.store.node("rt-a").reserved, what="a change after the outage")
    finally:
        rt.stop()
