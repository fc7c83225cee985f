"""`joulie serve --facility-telemetry` over a Kubernetes API (kmock, or JOULIE_TEST_KUBECONFIG) and a real BMC.

Templates and Secrets come from the API server; the BMC is sushy-tools' emulator. Checks
what an operator sees: template status, metrics, scores, and that the password shows
up nowhere (logs, status, /plan) and is read only as one named Secret in the release
namespace.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.builders import node, pod
from tests.extender.test_serve_cluster import call, serve, stop
from tests.facility.servers import SushyEmulator
from tests.kube.conftest import Cluster, KmockCluster, _free_port, eventually

FT = "/apis/joulie.io/v1alpha1/facilitytelemetrytemplates"
NS = "default"


@pytest.fixture
def bmc(tmp_path):
    s = SushyEmulator(tmp_path)
    yield s
    s.close()


def secret(cluster: Cluster, name: str, username: str, password: str) -> None:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in (("username", username), ("password", password))}
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "type": "Opaque",
        "data": data,
    }
    cluster.req("POST", f"/api/v1/namespaces/{NS}/secrets", body)
    cluster.created.append(f"/api/v1/namespaces/{NS}/secrets/{name}")


def template(cluster: Cluster, name: str, spec: dict) -> None:
    body = {
        "apiVersion": "joulie.io/v1alpha1",
        "kind": "FacilityTelemetryTemplate",
        "metadata": {"name": name},
        "spec": spec,
    }
    cluster.req("POST", FT, body)
    cluster.created.append(f"{FT}/{name}")


def status_of(cluster: Cluster, name: str) -> dict:
    return cluster.req("GET", f"{FT}/{name}").get("status") or {}


def test_serve_collects_from_a_bmc_with_a_secret_reports_status_and_scores_by_watts(
    cluster: Cluster, tmp_path: Path, bmc
):
    run = cluster.run_id
    port_label = "joulie.io/test-bmc-port"
    for name in ("ft-a", "ft-b"):
        cluster.add_node(node(name, cpu="80", **{port_label: str(bmc.port), "rack": f"r-{run}"}))
    cluster.add_pod(pod("busy", "ft-b", cpu="24"))
    secret(cluster, f"bmc-{run}", "admin", bmc.password)
    secret(cluster, f"bad-{run}", "admin", "wrong-Pa55word")
    endpoint = "http://127.0.0.1:{nodeLabel:" + port_label + "}"
    template(
        cluster,
        f"rack-{run}",
        {
            "nodeSelector": {"matchLabels": {"rack": f"r-{run}"}},
            "metricsCollector": {
                "inletTemp": {
                    "type": "Redfish",
                    "endpoint": endpoint,
                    "basicAuthSecret": {"name": f"bmc-{run}"},
                    "fetchInterval": "1s",
                }
            },
        },
    )
    template(
        cluster,
        f"only-b-{run}",
        {
            "nodeName": "ft-b",
            "metricsCollector": {
                "inletTemp": {
                    "type": "Redfish",
                    "endpoint": endpoint,
                    "basicAuthSecret": {"name": f"bad-{run}"},
                    "fetchInterval": "1s",
                }
            },
        },
    )
    port = _free_port()
    proc = serve(
        cluster,
        tmp_path,
        port,
        "--facility-telemetry",
        "--facility-namespace",
        NS,
        "--facility-status-interval",
        "1",
        "--power-aware-scoring",
    )
    try:
        rack = eventually(
            lambda: (s := status_of(cluster, f"rack-{run}")).get("freshNodes") == 1 and s, 30, 0.2, "rack status"
        )
        assert (rack["matchedNodes"], rack["shadowedNodes"]) == (1, 1)  # ft-b is configured by its own template
        ready = {c["type"]: c for c in rack["conditions"]}["Ready"]
        assert ready["status"] == "True" and ready["message"] == "1/1 nodes fresh"
        only_b = eventually(
            lambda: (s := status_of(cluster, f"only-b-{run}")).get("conditions") and s, 30, 0.2, "b status"
        )
        cond = {c["type"]: c for c in only_b["conditions"]}["Ready"]
        assert cond["status"] == "False" and cond["reason"] == "SourcesFailing" and "auth" in cond["message"]
        status, metrics = call(port, "GET", "/metrics")
        assert b'joulie_facility_fetch_errors_total{reason="auth",source="inletTemp"}' in metrics
        assert b'joulie_facility_fetches_total{source="inletTemp"}' in metrics
        if isinstance(cluster, KmockCluster):  # no metrics-server here: usage falls back to pod requests
            assert b'joulie_facility_fetch_errors_total{reason="missing-sensor",source="nodeUsage"}' in metrics
        # power-aware prioritize (parametric predictor): ft-b, already busy, adds fewer watts than waking idle ft-a
        body = json.dumps({"Pod": pod("x", cpu="8"), "NodeNames": ["ft-a", "ft-b"], "Nodes": None}).encode()
        status, reply = call(port, "POST", "/scheduler/prioritize", body)
        assert status == 200
        scores = {h["Host"]: h["Score"] for h in json.loads(reply)}
        assert scores["ft-b"] > scores["ft-a"]
        _, plan = call(port, "GET", "/plan")
        everything = plan + metrics + json.dumps([status_of(cluster, f"rack-{run}"), only_b]).encode()
        assert bmc.password.encode() not in everything and b"wrong-Pa55word" not in everything
    except AssertionError as exc:
        raise AssertionError(f"{exc}\njoulie serve said:\n{stop(proc)[-3000:]}") from None
    finally:
        err = stop(proc) if proc.poll() is None else ""
    assert bmc.password not in err and "wrong-Pa55word" not in err
    if isinstance(cluster, KmockCluster):
        secret_reads = {
            (str(r.method.value if hasattr(r.method, "value") else r.method).upper(), r.url.path)
            for r in cluster.requests(path_prefix="/api/v1/namespaces/default/secrets")
        }
        assert secret_reads == {
            ("GET", f"/api/v1/namespaces/{NS}/secrets/bmc-{run}"),
            ("GET", f"/api/v1/namespaces/{NS}/secrets/bad-{run}"),
        }
        assert not cluster.requests(path_prefix="/api/v1/secrets")  # never across namespaces


def test_facility_telemetry_needs_a_cluster(tmp_path: Path):
    from joulie.cli import main

    assert main(["serve", "--example", "--facility-telemetry"]) == 2


def test_node_usage_from_the_resource_metrics_api(kmock_cluster: KmockCluster):
    from joulie.facility.metrics import FacilityMetrics
    from joulie.facility.usage import NODE_METRICS_PATH, NodeUsage

    api = kmock_cluster.api()
    usage = NodeUsage(api, FacilityMetrics())
    assert usage.poll_once() is False  # no metrics-server: reported, not fatal
    assert "404" in (usage.last_error or "")

    async def register() -> None:
        kmock_cluster.emulator.resources["metrics.k8s.io/v1beta1/nodes"] = {}

    kmock_cluster.run(register())
    kmock_cluster.seed(
        "metrics.k8s.io/v1beta1/nodes",
        None,
        [
            {
                "metadata": {"name": "u1"},
                "timestamp": "2026-12-01T00:00:00Z",
                "window": "20s",
                "usage": {"cpu": "12500m", "memory": "1Gi"},
            },
            {"metadata": {"name": "u2"}, "usage": {"cpu": "3"}},
            {"metadata": {"name": "u3"}, "usage": {}},
        ],
    )
    assert usage.poll_once() is True and usage.last_error is None
    now = usage.clock()
    assert usage.cpu_usage_millis("u1", now) == 12500 and usage.cpu_usage_millis("u2", now) == 3000
    assert usage.cpu_usage_millis("u3", now) is None
    assert usage.cpu_usage_millis("u1", now + 61) is None  # stale after the TTL
    assert [r.url.path for r in kmock_cluster.requests(path_prefix=NODE_METRICS_PATH)] == [NODE_METRICS_PATH] * 2
