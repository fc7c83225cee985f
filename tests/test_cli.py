"""The `joulie` command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from tests.builders import node, pod


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "joulie", *args], capture_output=True, text=True, env=env, timeout=120)


def test_plan_example_table():
    out = run("plan", "--example")
    assert out.returncode == 0, out.stderr
    assert "NODE" in out.stdout and "worker-01" in out.stdout
    assert "worker-07: reserved" in out.stdout


def test_plan_json_from_snapshot_file(tmp_path):
    snap = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [node("a"), node("b"), node("c"), pod("x", "c", "performance"), pod("y", None, "eco")],
    }
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snap))
    out = run(
        "plan",
        "--snapshot",
        str(path),
        "--json",
        "--policy",
        "static_partition",
        "--policy-param",
        "hp_frac=0.34",
        "--eco-cap-watts",
        "95",
        "--eco-cstates",
        "C6=true,C1E=false",
        "--eco-max-freq-pct",
        "80",
    )
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["policy"] == "static_partition"
    assert plan["demand"] == {"performance": 1, "eco": 1, "general": 0, "performancePending": 0}
    by = {n["name"]: n for n in plan["nodes"]}
    assert by["c"]["profile"] == "performance"  # the node running the performance pod is kept
    assert by["a"] == {
        "name": "a",
        "profile": "eco",
        "draining": False,
        "state": "ActiveEco",
        "capWatts": 95.0,
        "controls": {
            "epp": "balance_power",
            "frequency": {"maxPct": 80.0},
            "cstates": {"names": {"C6": True, "C1E": False}},
            "uncore": {"minPct": 0.0},
        },
        "performancePods": 0,
        "reason": by["a"]["reason"],
    }
    assert by["c"]["controls"] == {}


def test_plan_yaml_snapshot_and_upstream_env(tmp_path):
    path = tmp_path / "snap.yaml"
    path.write_text(yaml.safe_dump({"kind": "List", "items": [node(f"n{i}") for i in range(5)]}))
    import os

    env = {**os.environ, "STATIC_HP_FRAC": "0.2", "JOULIE_POLICY": "static_partition"}
    plan = json.loads(run("plan", "--snapshot", str(path), "--json", env=env).stdout)
    assert [n["profile"] for n in plan["nodes"]].count("performance") == 1


def test_bad_inputs_are_clear_errors(tmp_path):
    missing = run("plan", "--snapshot", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read snapshot" in missing.stderr
    garbage = tmp_path / "g.yaml"
    garbage.write_text("items: [\n")
    out = run("plan", "--snapshot", str(garbage))
    assert out.returncode == 2 and "not valid YAML or JSON" in out.stderr
    empty = tmp_path / "e.yaml"
    empty.write_text("kind: List\nitems: []\n")
    out = run("plan", "--snapshot", str(empty))
    assert out.returncode == 2 and "no Node objects" in out.stderr
    out = run("plan", "--example", "--policy", "static_partition", "--policy-param", "hp_frac=2")
    assert out.returncode == 2 and "hp_frac" in out.stderr
    out = run("plan", "--example", "--node-selector", "a in (")
    assert out.returncode == 2 and "invalid" in out.stderr
    assert "Traceback" not in out.stderr
