"""The list+watch informer against an API server over HTTP."""

from __future__ import annotations

import time

from joulie.core.model import PodInfo
from joulie.core.store import ClusterStore
from joulie.kube.client import NODES_PATH, PODS_PATH
from joulie.kube.informer import Informer, backoff_delay
from tests.builders import node, pod
from tests.kube.conftest import Cluster, KmockCluster, eventually, first


def node_informer(cluster: Cluster, store: ClusterStore, **kw) -> Informer:
    kw.setdefault("watch_timeout_seconds", 5)
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.2)
    return Informer(
        cluster.api(),
        NODES_PATH,
        store.replace_nodes,
        store.upsert_node,
        lambda o: store.delete_node(o["metadata"]["name"]),
        name="nodes",
        **kw,
    )


def pod_informer(cluster: Cluster, store: ClusterStore) -> Informer:
    return Informer(
        cluster.api(),
        PODS_PATH,
        store.replace_pods,
        store.upsert_pod,
        lambda o: store.delete_pod(PodInfo.from_api(o).uid),
        name="pods",
        watch_timeout_seconds=5,
    )


def ours(store: ClusterStore, cluster: Cluster) -> list[str]:
    return [
        n for n in sorted(store.snapshot().nodes) if store.node(n).labels.get("joulie.io/test-run") == cluster.run_id
    ]


def test_initial_list_fills_the_store_then_watch_events_update_it(cluster: Cluster) -> None:
    cluster.add_node(node("inf-a"))
    cluster.add_node(node("inf-b", profile="eco"))
    cluster.add_pod(pod("inf-p1", "inf-a", "performance"))
    store = ClusterStore()
    nodes, pods = node_informer(cluster, store), pod_informer(cluster, store)
    nodes.start()
    pods.start()
    try:
        assert nodes.wait_synced(10) and pods.wait_synced(10)
        assert ours(store, cluster) == ["inf-a", "inf-b"]
        assert store.node("inf-b").profile_label == "eco"
        assert store.performance_pods_on("inf-a") == 1
        assert nodes.healthy and nodes.last_error is None

        cluster.label_node("inf-b", {"joulie.io/power-profile": "performance"})
        eventually(lambda: store.node("inf-b").profile_label == "performance", what="the label change")

        cluster.add_pod(pod("inf-p2", "inf-b", "performance"))
        eventually(lambda: store.performance_pods_on("inf-b") == 1, what="the new pod")
        cluster.delete_pod("inf-p1")
        eventually(lambda: store.performance_pods_on("inf-a") == 0, what="the pod deletion")

        cluster.add_node(node("inf-c"))
        eventually(lambda: "inf-c" in ours(store, cluster), what="the new node")
        cluster.delete_node("inf-a")
        eventually(lambda: ours(store, cluster) == ["inf-b", "inf-c"], what="the node deletion")
        assert nodes.lists == 1, "plain watch events must not cause relists"
    finally:
        nodes.stop()
        pods.stop()


def test_stop_wakes_a_quiet_watch_at_once(cluster: Cluster) -> None:
    store = ClusterStore()
    inf = node_informer(cluster, store, watch_timeout_seconds=300)
    inf.start()
    assert inf.wait_synced(10)
    time.sleep(0.3)  # the watch is open and idle
    started = time.monotonic()
    inf.stop()
    assert not inf.alive
    assert time.monotonic() - started < 2.0


def test_410_gone_on_the_watch_request_relists(kmock_cluster: KmockCluster) -> None:
    c = kmock_cluster
    c.add_node(node("gone-a"))
    store = ClusterStore()
    inf = node_informer(c, store)
    gone = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": 410,
        "reason": "Expired",
        "message": "too old resource version",
    }
    # Only the first watch is refused.
    first_watch = first(lambda r: r.params.get("watch") == "true" and r.url.path == NODES_PATH)

    c.react(first_watch, 410, gone)
    inf.start()
    try:
        assert inf.wait_synced(10)
        eventually(lambda: inf.lists == 2, what="a relist after 410")
        lists = c.requests("GET", NODES_PATH)
        assert sum(1 for r in lists if r.params.get("watch") != "true") == 2
        assert inf.last_error is None, "410 is routine, not an outage"
        c.add_node(node("gone-b"))  # and the new watch works
        eventually(lambda: "gone-b" in ours(store, c), what="events on the resumed watch")
    finally:
        inf.stop()


def test_410_error_event_inside_the_stream_relists(kmock_cluster: KmockCluster) -> None:
    c = kmock_cluster
    c.add_node(node("err-a"))
    store = ClusterStore()
    inf = node_informer(c, store)
    first_watch = first(lambda r: r.params.get("watch") == "true" and r.url.path == NODES_PATH)

    expired = {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": 410,
            "reason": "Expired",
            "message": "too old",
        },
    }
    c.react(first_watch, (expired,))
    inf.start()
    try:
        assert inf.wait_synced(10)
        eventually(lambda: inf.lists == 2, what="a relist after an ERROR 410 event")
        assert inf.last_error is None
    finally:
        inf.stop()


def test_backoff_grows_is_capped_and_jittered() -> None:
    delays = [backoff_delay(n, 0.5, 30.0) for n in range(12)]
    assert all(0.25 <= d <= 0.5 for d in delays[:1])
    assert all(d <= 30.0 for d in delays)
    assert delays[-1] >= 15.0  # capped at 30, jitter keeps at least half
    assert len({round(backoff_delay(3, 0.5, 30.0), 6) for _ in range(20)}) > 1
