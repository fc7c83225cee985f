"""The scheduler configuration and pod samples in config/ agree with what `joulie serve` answers."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml

from extender.app import create_app
from joulie.core.classify import classify_pod
from joulie.serve import register
from tests.builders import node, pod
from tests.extender.conftest import names_body, runtime_of

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER = ROOT / "config" / "scheduler"
SAMPLES = ROOT / "config" / "samples"


def serve_defaults():
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["serve"])


@pytest.mark.parametrize(
    "name, scheduler",
    [("joulie-scheduler-config.yaml", "joulie-scheduler"), ("default-scheduler-config.yaml", "default-scheduler")],
)
def test_scheduler_configuration_points_at_the_served_routes(name, scheduler, monkeypatch):
    for var in ("JOULIE_PORT", "JOULIE_URL_PREFIX"):
        monkeypatch.delenv(var, raising=False)
    cfg = yaml.safe_load((SCHEDULER / name).read_text())
    assert cfg["kind"] == "KubeSchedulerConfiguration" and cfg["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert cfg["percentageOfNodesToScore"] == 100
    assert [p["schedulerName"] for p in cfg["profiles"]] == [scheduler]
    (ext,) = cfg["extenders"]
    assert ext["nodeCacheCapable"] is True and ext["ignorable"] is True and ext["httpTimeout"] == "2s"
    assert ext["weight"] > 0 and ext["enableHTTPS"] is False
    url = urlparse(ext["urlPrefix"])
    defaults = serve_defaults()
    assert url.port == defaults.port and url.path == defaults.url_prefix
    from starlette.testclient import TestClient

    client = TestClient(create_app(runtime_of([node("a", "eco")]), url_prefix=defaults.url_prefix))
    for verb in (ext["filterVerb"], ext["prioritizeVerb"]):
        assert client.post(f"{url.path}/{verb}", content=names_body(pod("p"), ["a"])).status_code == 200


def test_kubeadm_patch_runs_the_scheduler_with_the_config_file():
    patch = yaml.safe_load((SCHEDULER / "kube-scheduler+strategic.yaml").read_text())
    container = patch["spec"]["containers"][0]
    assert "--config=/etc/kubernetes/scheduler-config.yaml" in container["command"]
    assert container["volumeMounts"][0]["mountPath"] == patch["spec"]["volumes"][0]["hostPath"]["path"]


@pytest.mark.parametrize(
    "name, demand", [("pod-performance.yaml", "performance"), ("pod-eco.yaml", "eco"), ("pod-general.yaml", "general")]
)
def test_pod_samples_are_valid_and_express_their_demand(name, demand):
    obj = yaml.safe_load((SAMPLES / name).read_text())
    kubernetes_validate.validate(obj, "1.31", strict=True)
    assert classify_pod(obj) == demand
    assert obj["spec"]["schedulerName"] == "joulie-scheduler"
