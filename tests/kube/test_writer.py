"""KubeWriter against an API server over HTTP: apply, conflicts, deletes, events, errors."""

from __future__ import annotations

import pytest

from joulie.api.v1alpha1 import CpuCap, NodePowerProfile, NodePowerProfileSpec, PolicyRef
from joulie.kube.client import NPP_PATH
from labeller.kube.writer import KubeWriter, merge_patch_to
from labeller.writes import WriteError
from tests.builders import node
from tests.kube.conftest import Cluster, KmockCluster, first


def profile(node_name: str, kind: str = "eco", watts: float = 120) -> NodePowerProfile:
    return NodePowerProfile(
        metadata={"name": f"node-{node_name}", "labels": {"app.kubernetes.io/managed-by": "joulie-labeller"}},
        spec=NodePowerProfileSpec(
            node_name=node_name,
            profile=kind,
            draining=False,
            cpu=CpuCap(package_power_cap_watts=watts),
            policy=PolicyRef(name="static_partition"),
        ),
    )


def test_apply_creates_then_updates_a_profile(cluster: Cluster) -> None:
    w = KubeWriter(cluster.api())
    cluster.created.append(f"{NPP_PATH}/node-wr-a")
    stored = w.apply_profile(profile("wr-a"))
    assert stored["spec"]["profile"] == "eco"
    assert cluster.npp("wr-a")["spec"]["cpu"] == {"packagePowerCapWatts": 120}
    stored = w.apply_profile(profile("wr-a", "performance", 5000))
    assert stored["spec"]["profile"] == "performance"
    assert cluster.npp("wr-a")["spec"]["cpu"] == {"packagePowerCapWatts": 5000}


def test_fields_added_by_someone_else_are_removed(cluster: Cluster) -> None:
    w = KubeWriter(cluster.api())
    cluster.created.append(f"{NPP_PATH}/node-wr-b")
    want = w.apply_profile(profile("wr-b"))["spec"]
    cluster.req(
        "PATCH",
        f"{NPP_PATH}/node-wr-b",
        {"spec": {"gpu": {"powerCap": {"capWattsPerGpu": 99}}}},
        "application/merge-patch+json",
    )
    assert "gpu" in cluster.npp("wr-b")["spec"]
    w.apply_profile(profile("wr-b"))
    assert cluster.npp("wr-b")["spec"] == want


def test_conflict_on_apply_is_retried_on_a_fresh_read(kmock_cluster: KmockCluster) -> None:
    c = kmock_cluster
    w = KubeWriter(c.api())
    w.apply_profile(profile("wr-c"))
    first_apply = first(
        lambda r: (
            r.method == "PATCH"
            and r.url.path == f"{NPP_PATH}/node-wr-c"
            and "apply-patch" in r.headers.get("Content-Type", "")
        )
    )
    c.react(
        first_apply,
        409,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": 409,
            "reason": "Conflict",
            "message": "the object has been modified",
        },
    )
    stored = w.apply_profile(profile("wr-c", "performance", 5000))
    assert stored["spec"]["profile"] == "performance"
    assert c.npp("wr-c")["spec"]["cpu"]["packagePowerCapWatts"] == 5000
    after = [(str(r.method.value), r.url.path) for r in c.requests(path_prefix=f"{NPP_PATH}/node-wr-c")][-3:]
    assert after == [
        ("PATCH", f"{NPP_PATH}/node-wr-c"),
        ("GET", f"{NPP_PATH}/node-wr-c"),
        ("PATCH", f"{NPP_PATH}/node-wr-c"),
    ]
    retry = c.requests(path_prefix=f"{NPP_PATH}/node-wr-c")[-1]
    assert "merge-patch" in retry.headers["Content-Type"]


def test_persistent_conflicts_give_a_clear_write_error(kmock_cluster: KmockCluster) -> None:
    c = kmock_cluster
    w = KubeWriter(c.api(), conflict_retries=2)
    w.apply_profile(profile("wr-d"))
    c.react(
        lambda r: r.method == "PATCH" and r.url.path == f"{NPP_PATH}/node-wr-d",
        409,
        {"kind": "Status", "code": 409, "reason": "Conflict", "message": "modified"},
    )
    with pytest.raises(WriteError, match=r"node-wr-d.*3 conflicts.*409 Conflict"):
        w.apply_profile(profile("wr-d", "performance"))


def test_delete_of_a_missing_profile_is_fine(cluster: Cluster) -> None:
    w = KubeWriter(cluster.api())
    w.delete_profile("node-never-existed")  # no error: already gone is the goal
    w.apply_profile(profile("wr-e"))
    w.delete_profile("node-wr-e")
    assert cluster.npp("wr-e") is None


def test_label_patch_sets_and_removes_labels_only(cluster: Cluster) -> None:
    cluster.add_node(node("wr-n", foreign="keep"))
    w = KubeWriter(cluster.api())
    w.patch_node_labels("wr-n", {"joulie.io/power-profile": "eco", "joulie.io/draining": "true"})
    assert cluster.node_labels("wr-n")["joulie.io/draining"] == "true"
    stored = w.patch_node_labels("wr-n", {"joulie.io/draining": None})
    assert "joulie.io/draining" not in stored["metadata"]["labels"]
    labels = cluster.node_labels("wr-n")
    assert labels["foreign"] == "keep" and labels["joulie.io/power-profile"] == "eco"
    assert "joulie.io/draining" not in labels


def test_write_errors_name_the_object_and_the_status(cluster: Cluster) -> None:
    w = KubeWriter(cluster.api())
    with pytest.raises(WriteError, match=r"patch labels of node no-such-node: 404"):
        w.patch_node_labels("no-such-node", {"joulie.io/power-profile": "eco"})


def test_unreachable_api_is_a_write_error() -> None:
    from kubernetes import client as k8s

    configuration = k8s.Configuration()
    configuration.host = "http://127.0.0.1:9"  # discard port: nothing listens
    configuration.retries = False
    w = KubeWriter(k8s.ApiClient(configuration))
    with pytest.raises(WriteError, match="unreachable"):
        w.apply_profile(profile("x"))


def test_repeated_events_bump_count_instead_of_piling_up(cluster: Cluster) -> None:
    cluster.add_node(node("wr-ev"))
    w = KubeWriter(cluster.api())
    for _ in range(3):
        w.emit_event("wr-ev", "ProfileReverted", "restored to eco", "Warning")
    w.emit_event("wr-ev", "PowerProfileActiveEco", "went eco")
    events = cluster.events("wr-ev")
    for e in events:
        cluster.created.append(f"/api/v1/namespaces/default/events/{e['metadata']['name']}")
    reverted = [e for e in events if e["reason"] == "ProfileReverted"]
    assert len(reverted) == 1 and reverted[0]["count"] == 3 and reverted[0]["type"] == "Warning"
    assert len([e for e in events if e["reason"] == "PowerProfileActiveEco"]) == 1


def test_a_writer_that_lost_leadership_refuses_to_write(cluster: Cluster) -> None:
    w = KubeWriter(cluster.api(), allowed=lambda: False)
    before = cluster.writes()
    with pytest.raises(WriteError, match="no longer the leader"):
        w.apply_profile(profile("wr-f"))
    assert cluster.writes() == before


def test_merge_patch_to_drops_foreign_keys() -> None:
    assert merge_patch_to({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 4}}) == {"b": {"c": 4, "d": None}}
    assert merge_patch_to({"x": 1}, {"x": 1}) == {}
