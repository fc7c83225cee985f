"""`joulie serve` against a Kubernetes API over HTTP (kmock's emulator, or JOULIE_TEST_KUBECONFIG).

The feedback target: a performance pod that finds only eco nodes makes the labeller
promote one within seconds, and the extender lets the pod's retry through. The test
plays kube-scheduler's part exactly: after a filter that leaves no node it records
``PodScheduled=False, reason=Unschedulable`` on the pod, as the scheduler does. With two
replicas, both answer ``/plan`` alike, and a failover neither loses nor invents demand.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.builders import node, pod
from tests.extender.conftest import names_body
from tests.extender.godecode import scheduler_filter
from tests.kube.conftest import ROOT, Cluster, _free_port, eventually

NODES = ["sv-a", "sv-b", "sv-c"]
MERGE = "application/merge-patch+json"


def call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request(method, path, body=body)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, data
    except OSError:
        return 0, b""


def plan_of(port: int) -> dict[str, Any]:
    status, body = call(port, "GET", "/plan")
    return json.loads(body) if status == 200 else {}


def performance_nodes(plan: dict[str, Any]) -> list[str]:
    return sorted(n["name"] for n in plan.get("nodes", []) if n["profile"] == "performance")


def serve(cluster: Cluster, tmp_path: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KUBECONFIG", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "joulie",
            "serve",
            "--kubeconfig",
            cluster.kubeconfig(tmp_path),
            "--node-selector",
            cluster.selector,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--policy",
            "static_partition",
            "--policy-param",
            "hp_frac=0",
            "--interval",
            "60",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.kill()
    _, err = proc.communicate(timeout=5)
    return err


def mark_unschedulable(cluster: Cluster, created: dict[str, Any]) -> None:
    """What kube-scheduler writes after a scheduling attempt that found no node."""
    meta = created["metadata"]
    cluster.req(
        "PATCH",
        f"/api/v1/namespaces/{meta.get('namespace', 'default')}/pods/{meta['name']}/status",
        {
            "status": {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes are available",
                    }
                ]
            }
        },
        MERGE,
    )


def test_a_performance_pod_with_only_eco_nodes_gets_a_node_within_3s(cluster: Cluster, tmp_path: Path) -> None:
    for name in NODES:
        cluster.add_node(node(name, "eco", cpu="8"))
    port = _free_port()
    proc = serve(cluster, tmp_path, port)
    try:
        eventually(lambda: call(port, "GET", "/readyz")[0] == 200, timeout=30, what="/readyz 200")
        eventually(lambda: len(plan_of(port).get("nodes", [])) == 3, timeout=10, what="a plan of the three nodes")
        assert all(cluster.node_labels(n).get("joulie.io/power-profile") == "eco" for n in NODES)

        created = cluster.add_pod(pod("urgent", demand="performance", cpu="2"))
        started = time.monotonic()
        status, body = call(port, "POST", "/scheduler/filter", names_body(created, NODES))
        assert scheduler_filter(True, NODES, status, body).feasible == []
        mark_unschedulable(cluster, created)

        def retry_passes() -> list[str]:
            s, b = call(port, "POST", "/scheduler/filter", names_body(created, NODES))
            return scheduler_filter(True, NODES, s, b).feasible

        feasible = eventually(retry_passes, timeout=3.0, interval=0.05, what="the retry to find a node")
        assert len(feasible) == 1 and time.monotonic() - started < 3.0
        eventually(
            lambda: cluster.node_labels(feasible[0]).get("joulie.io/power-profile") == "performance",
            timeout=3.0,
            what="the promotion to reach the node's labels",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        err = stop(proc)
    assert '"msg":"stopped"' in err


def test_two_replicas_agree_and_a_failover_neither_loses_nor_invents_demand(
    cluster: Cluster,
    tmp_path: Path,
) -> None:
    for name in NODES:
        cluster.add_node(node(name, "eco", cpu="8"))
    lease = f"joulie-serve-{cluster.run_id}"
    cluster.created.append(f"/apis/coordination.k8s.io/v1/namespaces/default/leases/{lease}")
    election = ["--leader-elect", "--lease-name", lease, "--lease-namespace", "default", "--lease-duration", "2"]
    ports = [_free_port(), _free_port()]
    first = serve(cluster, tmp_path, ports[0], *election, "--identity", "replica-0")
    procs = [first]
    try:
        eventually(lambda: len(plan_of(ports[0]).get("nodes", [])) == 3, timeout=30, what="replica-0's plan")
        procs.append(serve(cluster, tmp_path, ports[1], *election, "--identity", "replica-1"))
        eventually(
            lambda: call(ports[1], "GET", "/readyz") == (200, b"ok (follower)"),
            timeout=30,
            what="replica-1 ready as a follower",
        )

        created = cluster.add_pod(pod("urgent", demand="performance", cpu="2"))
        # the scheduler happens to call the follower: its filter finds no node
        status, body = call(ports[1], "POST", "/scheduler/filter", names_body(created, NODES))
        assert scheduler_filter(True, NODES, status, body).feasible == []
        mark_unschedulable(cluster, created)

        def agreed() -> list[str]:
            plans = [plan_of(p) for p in ports]
            perf = [performance_nodes(p) for p in plans]
            floors = [p.get("performanceFloor") for p in plans]
            if perf[0] and perf[0] == perf[1] and all(floors):
                return perf[0]
            return []

        promoted = eventually(agreed, timeout=5, what="both replicas to plan the same promotion")
        assert len(promoted) == 1
        eventually(
            lambda: cluster.node_labels(promoted[0]).get("joulie.io/power-profile") == "performance",
            timeout=5,
            what="the leader to write the promotion",
        )
        hold = cluster.npp(promoted[0])["metadata"]["annotations"]
        assert "joulie.io/feedback-pods" in hold and "joulie.io/feedback-hold-until" in hold

        first.send_signal(signal.SIGKILL)  # the leader dies without handing the lease back
        first.wait(timeout=10)
        eventually(
            lambda: call(ports[1], "GET", "/readyz") == (200, b"ok (leader)"), timeout=10, what="replica-1 to take over"
        )
        call(ports[1], "POST", "/scheduler/filter", names_body(created, NODES))  # nudge a reconcile
        time.sleep(0.5)
        # not lost: the same node stays performance for the waiting pod; not invented: no second one
        assert performance_nodes(plan_of(ports[1])) == promoted

        cluster.delete_pod("urgent")
        eventually(
            lambda: performance_nodes(plan_of(ports[1])) == [] and plan_of(ports[1])["performanceFloor"] is None,
            timeout=5,
            what="the promotion to end with the pod that needed it",
        )
        eventually(
            lambda: cluster.node_labels(promoted[0]).get("joulie.io/power-profile") == "eco",
            timeout=5,
            what="the node back to eco",
        )
    finally:
        for proc in procs:
            stop(proc)
