"""``kubectl joulie`` against the API over HTTP: kubeconfig, contexts, output formats, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from joulie.kubectl.cli import run as kubectl_joulie
from tests.builders import node, pod
from tests.kube.conftest import Cluster, _free_port

PLUGIN = Path(sys.executable).parent / "kubectl-joulie"


@pytest.fixture
def seeded(cluster: Cluster, tmp_path: Path) -> tuple[Cluster, str]:
    """Three managed nodes (one runs a performance pod), one cordoned, one Joulie does not manage."""
    for name in ("kc-a", "kc-b", "kc-c"):
        cluster.add_node(node(name))
    cluster.add_node(node("kc-d", unschedulable=True))
    cluster.add_node(node("kc-x", managed=False))
    cluster.add_pod(pod("kc-p", "kc-a", "performance"))
    return cluster, cluster.kubeconfig(tmp_path)


def planning(cluster: Cluster) -> list[str]:
    return ["--node-selector", cluster.selector, "--policy", "static_partition", "--policy-param", "hp_frac=0.5"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = kubectl_joulie(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_plan_prints_the_table_and_the_same_plan_as_joulie_plan(seeded, capsys):
    cluster, kubeconfig = seeded
    code, out, err = run(capsys, "plan", "--kubeconfig", kubeconfig, *planning(cluster))
    assert code == 0, err
    assert out.startswith("Policy:   static_partition -> 2 of 3 managed nodes performance")
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("kc-")}
    assert rows["kc-a"][:5] == ["kc-a", "performance", "ActivePerformance", "5000", "1"]
    assert sorted(r[1] for r in rows.values()) == ["eco", "performance", "performance"]
    assert "Not managed now:\n  kc-d: cordoned (spec.unschedulable)" in out

    code, out, _ = run(capsys, "plan", "-o", "json", "--kubeconfig", kubeconfig, *planning(cluster))
    plugin = json.loads(out)
    joulie_plan = subprocess.run(
        [sys.executable, "-m", "joulie", "plan", "--json", "--kubeconfig", kubeconfig, *planning(cluster)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    reference = json.loads(joulie_plan.stdout)
    for key in ("policy", "policyReason", "demand", "targetPerformance", "skipped"):
        assert plugin[key] == reference[key], key
    # /plan adds what the extender does with pod power profiles on each node; the rest is the same plan
    assert [{k: v for k, v in n.items() if k != "podProfiles"} for n in plugin["nodes"]] == reference["nodes"]
    assert all(n["podProfiles"] for n in plugin["nodes"])
    assert plugin["assumedPods"] == 0  # /plan's shape: nothing was placed by this process

    code, out, _ = run(capsys, "plan", "-o", "yaml", "--kubeconfig", kubeconfig, *planning(cluster))
    assert code == 0 and yaml.safe_load(out)["nodes"] == plugin["nodes"]

    code, out, _ = run(capsys, "plan", "-o", "wide", "--no-headers", "--kubeconfig", kubeconfig, *planning(cluster))
    lines = out.splitlines()
    assert len(lines) == 3 and all(line.startswith("kc-") for line in lines)  # rows only
    eco = next(line for line in lines if " eco " in line)
    assert "epp=balance_power uncore=0- %" in eco and " false " in eco


def test_why_explains_managed_skipped_and_unmanaged_nodes_and_names_unknown_ones(seeded, capsys):
    cluster, kubeconfig = seeded
    flags = ["--kubeconfig", kubeconfig, *planning(cluster)]
    code, out, err = run(capsys, "why", "kc-a", "kc-d", "kc-x", *flags)
    assert code == 0, err
    assert "kc-a: performance (ActivePerformance)\n  Because:   " in out
    assert "Cap:       5000 W per CPU package" in out and "Perf pods: 1 running" in out
    assert "kc-d: not managed now\n  Because:   cordoned" in out
    assert "kc-x: not managed now\n  Because:   not managed: labels do not match the node selector" in out

    code, out, err = run(capsys, "why", "kc-a", "nope", *flags)
    assert code == 1 and "kc-a: performance" in out
    assert err.startswith('error: node "nope" not found (not a node of the cluster at ') and err.count("\n") == 1

    code, out, err = run(capsys, "why", "nope", *flags)
    assert code == 1 and out == "" and 'error: node "nope" not found' in err

    code, out, _ = run(capsys, "why", "kc-b", "-o", "json", *flags)
    body = json.loads(out)
    assert code == 0 and [n["name"] for n in body["nodes"]] == ["kc-b"]  # what /plan?node=kc-b answers


def test_top_lists_nodes_by_power_then_profile_and_says_when_nothing_is_measured(seeded, capsys):
    cluster, kubeconfig = seeded
    code, out, err = run(capsys, "top", "--kubeconfig", kubeconfig, *planning(cluster))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "PROFILE", "STATE", "POWER(W)", "CAP(W)"]
    profiles = [line.split()[1] for line in lines[1:]]
    assert profiles == ["performance", "performance", "eco"] and all("<unknown>" in line for line in lines[1:])
    assert "no measured power" in err
    code, out, _ = run(capsys, "top", "--sort-by", "name", "-o", "json", "--kubeconfig", kubeconfig, *planning(cluster))
    assert [r["name"] for r in json.loads(out)["nodes"]] == ["kc-a", "kc-b", "kc-c"]


def two_contexts(cluster: Cluster, tmp_path: Path) -> Path:
    """The test cluster as context ``test``, and a cluster nobody listens on as the current context."""
    config = yaml.safe_load(Path(cluster.kubeconfig(tmp_path)).read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    down = f"http://127.0.0.1:{_free_port()}"
    config["clusters"].append({"name": "down", "cluster": {"server": down}})
    config["contexts"] = [
        {"name": "test", "context": current["context"]},
        {"name": "down", "context": {**current["context"], "cluster": "down"}},
    ]
    config["current-context"] = "down"
    path = tmp_path / "two-contexts"
    path.write_text(yaml.safe_dump(config))
    return path


def test_context_kubeconfig_and_their_errors_follow_kubectl(seeded, tmp_path, capsys, monkeypatch):
    cluster, _ = seeded
    kubeconfig = two_contexts(cluster, tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))  # like kubectl, $KUBECONFIG when no flag

    code, out, err = run(capsys, "plan", *planning(cluster))
    assert code == 1 and out == ""
    assert err.startswith("error: cannot read the cluster at http://127.0.0.1:") and err.endswith("\n")
    assert err.count("\n") == 1  # one line, no traceback

    for argv in (
        ["plan", "--context", "test"],
        ["plan", "--context=test"],
        ["--context", "test", "plan"],  # before the command, as kubectl users type it
        ["--kubeconfig", str(kubeconfig), "--context", "test", "plan"],
    ):
        code, out, err = run(capsys, *argv, *planning(cluster))
        assert code == 0 and "kc-a" in out, (argv, err)

    code, _, err = run(capsys, "plan", "--context", "nope", *planning(cluster))
    assert code == 1 and err.startswith("error: ") and "nope" in err


def test_no_cluster_configuration_at_all_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = str(tmp_path)  # no ~/.kube/config
    out = subprocess.run([str(PLUGIN), "top"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith("error: no Kubernetes configuration found (") and "Traceback" not in out.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed: plugin discovery not checked")
def test_kubectl_finds_and_runs_the_installed_plugin(seeded):
    cluster, kubeconfig = seeded
    env = {**os.environ, "PATH": f"{PLUGIN.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    listed = subprocess.run(["kubectl", "plugin", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert str(PLUGIN) in listed.stdout
    out = subprocess.run(
        ["kubectl", "joulie", "plan", "-o", "json", "--kubeconfig", kubeconfig, *planning(cluster)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert sorted(n["name"] for n in json.loads(out.stdout)["nodes"]) == ["kc-a", "kc-b", "kc-c"]


def test_a_cluster_without_joulies_crds_is_planned_with_a_warning(kmock_cluster, tmp_path):
    kmock_cluster.add_node(node("kc-a"))
    kmock_cluster.run(_forget_npp_resource(kmock_cluster))
    out = subprocess.run(
        [str(PLUGIN), "plan", "--kubeconfig", kmock_cluster.kubeconfig(tmp_path), *planning(kmock_cluster)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "kc-a" in out.stdout
    assert out.stderr == "warning: NodePowerProfile CRD not installed; planning as if no profile existed\n"


async def _forget_npp_resource(cluster) -> None:
    del cluster.emulator.resources["joulie.io/v1alpha1/nodepowerprofiles"]
