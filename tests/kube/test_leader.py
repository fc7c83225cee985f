"""Leader election on a coordination.k8s.io Lease: one writer among replicas."""

from __future__ import annotations

import time

from labeller.kube.leader import LeaderElector
from tests.builders import node
from tests.kube.conftest import Cluster, KmockCluster, eventually
from tests.kube.helpers import runtime

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
NODES = ["le-a", "le-b", "le-c"]


def non_lease_writes(cluster: KmockCluster, agent: str) -> int:
    return sum(1 for r in cluster.requests(write=True, agent=agent) if not r.url.path.startswith(LEASES))


def test_two_replicas_only_the_leader_writes_and_the_standby_takes_over(cluster: Cluster) -> None:
    for n in NODES:
        cluster.add_node(node(n))
    lease = f"joulie-test-{cluster.run_id}"
    cluster.created.append(f"{LEASES}/{lease}")
    a = runtime(cluster, agent="replica-a", leader="replica-a", lease=lease)
    b = runtime(cluster, agent="replica-b", leader="replica-b", lease=lease)
    a.start()
    try:
        eventually(lambda: a.is_leader() and a.reconciles >= 1, what="replica-a to lead and reconcile")
        b.start()
        eventually(lambda: b.synced(), what="replica-b caches")
        b.request_reconcile("test: poke the follower")
        eventually(lambda: b.latest_plan() is not None, what="the follower's own plan")
        assert not b.is_leader() and b.reconciles == 0
        assert b.ready() == (True, "ok (follower)")
        assert sorted(d.profile for d in b.latest_plan().nodes) == ["eco", "performance", "performance"]
        lease_obj = cluster.req("GET", f"{LEASES}/{lease}")
        assert lease_obj["spec"]["holderIdentity"] == "replica-a"
        if isinstance(cluster, KmockCluster):
            assert non_lease_writes(cluster, "replica-a") > 0
            assert non_lease_writes(cluster, "replica-b") == 0

        a.stop()  # releases the lease: no need to wait for it to expire
        released = cluster.req("GET", f"{LEASES}/{lease}")["spec"]
        assert released.get("holderIdentity") in (None, "", "replica-b")
        eventually(lambda: b.is_leader() and b.reconciles >= 1, timeout=5, what="replica-b to take over")
        assert cluster.req("GET", f"{LEASES}/{lease}")["spec"]["holderIdentity"] == "replica-b"
    finally:
        a.stop()
        b.stop()


def test_a_live_lease_held_by_another_is_respected_until_it_expires(cluster: Cluster) -> None:
    lease = f"joulie-exp-{cluster.run_id}"
    cluster.created.append(f"{LEASES}/{lease}")
    holder = LeaderElector(cluster.api(), lease, "default", "holder", lease_duration=1.0)
    other = LeaderElector(cluster.api(), lease, "default", "other", lease_duration=1.0)
    assert holder.try_acquire_or_renew()
    assert not other.try_acquire_or_renew() and other.holder == "holder"
    time.sleep(0.5)
    assert holder.try_acquire_or_renew()  # renewals keep it
    assert not other.try_acquire_or_renew()
    time.sleep(1.3)  # the holder stops renewing (crashed): its lease expires on our clock
    assert other.try_acquire_or_renew()
    spec = cluster.req("GET", f"{LEASES}/{lease}")["spec"]
    assert spec["holderIdentity"] == "other" and spec["leaseTransitions"] == 1
    assert not holder.try_acquire_or_renew() and not holder.is_leader()
