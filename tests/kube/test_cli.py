"""``joulie labeller`` and ``joulie plan`` as processes, against the API over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tests.builders import node, pod
from tests.kube.conftest import ROOT, Cluster, _free_port, eventually

NODES = ["cli-a", "cli-b", "cli-c"]


def joulie(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KUBECONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "joulie", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def seed(cluster: Cluster) -> None:
    for n in NODES:
        cluster.add_node(node(n))
    cluster.add_pod(pod("cli-p", "cli-a", "performance"))


def test_once_reconciles_prints_a_summary_and_a_second_run_writes_nothing(cluster: Cluster, tmp_path: Path) -> None:
    seed(cluster)
    args = [
        "labeller",
        "--once",
        "--kubeconfig",
        cluster.kubeconfig(tmp_path),
        "--node-selector",
        cluster.selector,
        "--policy",
        "static_partition",
        "--metrics-port",
        "0",
    ]
    first = joulie(*args)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["ok"] and summary["nodes"] == 3 and summary["performance"] == 2
    assert summary["writes"] == {"nodepowerprofile": 3, "labels": 3}
    assert all(cluster.npp(n) is not None for n in NODES)

    second = joulie(*args)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.strip().splitlines()[-1])["writes"] == {}


def test_once_dry_run_logs_what_it_would_write_and_writes_nothing(cluster: Cluster, tmp_path: Path) -> None:
    seed(cluster)
    before = cluster.writes()
    out = joulie(
        "labeller",
        "--once",
        "--dry-run",
        "--kubeconfig",
        cluster.kubeconfig(tmp_path),
        "--node-selector",
        cluster.selector,
        "--metrics-port",
        "0",
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["dryRun"] is True and summary["nodes"] == 3
    logs = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    would = [entry for entry in logs if entry["msg"].startswith("dry-run: would apply")]
    assert sorted(entry["profile"] for entry in would) == [f"node-{n}" for n in NODES]
    assert all(cluster.npp(n) is None for n in NODES)
    assert "joulie.io/power-profile" not in cluster.node_labels("cli-a")
    assert cluster.writes() == before


def test_plan_reads_a_live_cluster(cluster: Cluster, tmp_path: Path) -> None:
    seed(cluster)
    out = joulie(
        "plan",
        "--json",
        "--kubeconfig",
        cluster.kubeconfig(tmp_path),
        "--node-selector",
        cluster.selector,
        "--policy",
        "static_partition",
    )
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert sorted(n["name"] for n in plan["nodes"]) == NODES
    assert plan["demand"]["performance"] >= 1


def test_service_probes_metrics_and_graceful_sigterm(cluster: Cluster, tmp_path: Path) -> None:
    seed(cluster)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KUBECONFIG", None)
    lease = f"joulie-cli-{cluster.run_id}"
    leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
    cluster.created.append(f"{leases}/{lease}")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "joulie",
            "labeller",
            "--kubeconfig",
            cluster.kubeconfig(tmp_path),
            "--node-selector",
            cluster.selector,
            "--metrics-port",
            str(port),
            "--interval",
            "60",
            "--leader-elect",
            "--lease-name",
            lease,
            "--lease-namespace",
            "default",
            "--identity",
            "cli-test",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout=20, what="/readyz 200")
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        eventually(lambda: all(cluster.npp(n) for n in NODES), what="the service to write profiles")
        status, metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "joulie_writes_total" in metrics
        assert cluster.req("GET", f"{leases}/{lease}")["spec"]["holderIdentity"] == "cli-test"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert not cluster.req("GET", f"{leases}/{lease}")["spec"].get("holderIdentity"), "lease released"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=5)


def test_unreachable_api_keeps_the_process_alive_and_unready(tmp_path: Path) -> None:
    dead = _free_port()  # nothing listens here
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "gone",
                "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{dead}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
            }
        )
    )
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KUBECONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "joulie", "labeller", "--kubeconfig", str(config), "--metrics-port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # before the first list attempt fails /readyz says "not synced"; then it must name the outage
        status, body = eventually(
            lambda: (r := get(f"http://127.0.0.1:{port}/readyz"))[0] and "unreachable" in r[1] and r,
            timeout=20,
            what="/readyz to report the unreachable API",
        )
        assert status == 503 and "unreachable" in body
        time.sleep(1.0)
        assert proc.poll() is None, "the process must stay up while the API is away"
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=5)
