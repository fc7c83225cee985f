"""`joulie serve` against a Kubernetes API over HTTP (kmock's emulator, or JOULIE_TEST_KUBECONFIG).

The feedback target of the issue: a performance pod that finds only eco nodes makes
the labeller promote one within seconds, and the extender lets the pod's retry through.
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

from tests.builders import node, pod
from tests.extender.conftest import names_body
from tests.extender.godecode import scheduler_filter
from tests.kube.conftest import ROOT, Cluster, _free_port, cluster, eventually  # noqa: F401 - fixture

NODES = ["sv-a", "sv-b", "sv-c"]


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


def test_a_performance_pod_with_only_eco_nodes_gets_a_node_within_3s(cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    for name in NODES:
        cluster.add_node(node(name, "eco", cpu="8"))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KUBECONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "joulie", "serve", "--kubeconfig", cluster.kubeconfig(tmp_path),
         "--node-selector", cluster.selector, "--host", "127.0.0.1", "--port", str(port),
         "--policy", "static_partition", "--policy-param", "hp_frac=0", "--interval", "60"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        eventually(lambda: call(port, "GET", "/readyz")[0] == 200, timeout=30, what="/readyz 200")
        eventually(lambda: len(json.loads(call(port, "GET", "/plan")[1] or b"{}").get("nodes", [])) == 3,
                   timeout=10, what="a plan of the three nodes")
        assert all(cluster.node_labels(n).get("joulie.io/power-profile") == "eco" for n in NODES)

        waiting = pod("urgent", demand="performance", cpu="2")
        started = time.monotonic()
        status, body = call(port, "POST", "/scheduler/filter", names_body(waiting, NODES))
        assert scheduler_filter(True, NODES, status, body).feasible == []

        def retry_passes() -> list[str]:
            s, b = call(port, "POST", "/scheduler/filter", names_body(waiting, NODES))
            return scheduler_filter(True, NODES, s, b).feasible

        feasible = eventually(retry_passes, timeout=3.0, interval=0.05, what="the retry to find a node")
        assert len(feasible) == 1 and time.monotonic() - started < 3.0
        eventually(lambda: cluster.node_labels(feasible[0]).get("joulie.io/power-profile") == "performance",
                   timeout=3.0, what="the promotion to reach the node's labels")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=5)
    assert '"msg":"stopped"' in err
