"""``kubectl joulie`` offline: snapshots, and a running server's ``/plan`` with budgets and telemetry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from joulie import __version__
from joulie.kubectl.cli import run as kubectl_joulie
from labeller.cli import example_snapshot_path
from tests.plan_page.harness import (
    PlanRuntime,
    cluster_plan,
    cluster_store,
    fleet_telemetry,
    free_port,
    served,
    with_telemetry,
)

PLUGIN = Path(sys.executable).parent / "kubectl-joulie"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = kubectl_joulie(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_package_installs_a_kubectl_plugin_executable():
    assert PLUGIN.is_file(), "pip install -e . installs kubectl-joulie next to python (a console-script entry point)"
    out = subprocess.run([str(PLUGIN), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"kubectl-joulie {__version__}"
    out = subprocess.run([str(PLUGIN), "why", "worker-03", "--example"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("worker-03: performance (ActivePerformance)")


def test_plan_and_why_from_a_snapshot(capsys):
    code, out, _ = run(capsys, "plan", "--snapshot", example_snapshot_path())
    assert code == 0
    assert "Demand:   6 performance (1 pending), 3 eco, 5 general pods" in out
    assert "Floor:    4 performance nodes until " in out and "batch/solver-3" in out
    assert "worker-06   eco           ActiveEco           120      0           chosen for eco (rank 5/7" in out
    code, out, _ = run(capsys, "--example", "why", "worker-07", "cp-1")
    assert code == 0
    assert "worker-07: not managed now\n  Because:   reserved" in out
    assert "cp-1: not managed now\n  Because:   not managed: labels do not match the node selector" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plan", "--example", "--snapshot", "x.yaml"], "--snapshot and --example name different plans"),
        (["plan", "--snapshot", "/nonexistent.yaml"], "/nonexistent.yaml"),
        (["top", "--plan-url", "ftp://example/plan"], "is not an http:// or https:// URL"),
        (["plan", "--example", "--policy-param", "hp_frac"], "expects KEY=VALUE"),
    ],
)
def test_bad_input_is_one_error_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_an_unknown_output_format_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        kubectl_joulie(["plan", "--example", "-o", "jsonpath"])
    assert exc.value.code == 2 and "invalid choice: 'jsonpath'" in capsys.readouterr().err


# ---------------------------------------------------------------- --plan-url: what only the server knows


@pytest.fixture(scope="module")
def server():
    store = cluster_store(12)
    plain = cluster_plan(store)
    budgets, telemetry = fleet_telemetry(plain)
    runtime = PlanRuntime(store, with_telemetry(plain, budgets, telemetry))
    with served(runtime) as origin:
        yield origin, telemetry, budgets


def test_top_sorts_by_measured_power_and_shows_budgets_and_racks(server, capsys):
    origin, telemetry, budgets = server
    code, out, err = run(capsys, "top", "--plan-url", origin)  # a bare server URL means its /plan
    assert code == 0 and err == ""
    budget_part, node_part = out.split("\n\n")
    assert budget_part.splitlines()[0].split() == ["BUDGET", "LIMIT(W)", "MEASURED(W)", "HEADROOM(W)", "STATE"]
    assert budget_part.splitlines()[4].split()[:5] == ["row-7", "2000", "2150", "-150", "BudgetInsufficient:"]
    assert budget_part.splitlines()[4].endswith("BudgetInsufficient: performance demand alone needs 2150 W")
    assert "rack rack-b" in budget_part and "38 C, stage 1 (no new eco/general work)" in budget_part
    lines = node_part.splitlines()
    assert lines[0].split() == ["NAME", "PROFILE", "STATE", "POWER(W)", "CAP(W)", "BUDGET-SHARE(W)", "INLET(C)"]
    measured = [float(line.split()[3]) for line in lines[1:]]
    assert measured == sorted(measured, reverse=True) and len(measured) == 12
    first = lines[1].split()
    assert float(first[3]) == max(t["measuredWatts"] for t in telemetry.values())
    assert float(first[5]) == telemetry[first[0]]["budgetShareWatts"]

    code, out, _ = run(capsys, "top", "-o", "json", "--sort-by", "profile", "--plan-url", origin + "/plan")
    data = json.loads(out)
    assert data["budgets"] == budgets
    assert [r["profile"] for r in data["nodes"]] == sorted(
        (r["profile"] for r in data["nodes"]), key=lambda p: p != "performance"
    )


def test_plan_wide_and_why_show_the_node_telemetry(server, capsys):
    origin, telemetry, _ = server
    code, out, _ = run(capsys, "plan", "-o", "wide", "--plan-url", origin)
    assert code == 0 and "Power:    " in out
    header = next(line for line in out.splitlines() if line.startswith("NAME"))
    assert header.split()[7:] == ["MEASURED(W)", "BUDGET-SHARE(W)", "INLET(C)", "REASON"]
    name = sorted(telemetry)[3]
    code, out, _ = run(capsys, "why", name, "--plan-url", origin)
    t = telemetry[name]
    assert code == 0
    assert f"; budget facility-cap: {t['budget']['reason']}" in out.splitlines()[1]  # the Because: line
    assert f"  Measured:  {t['measuredWatts']:.0f} W" in out and f"  Inlet:     {t['inletTempC']:g} C" in out


def test_plan_url_errors_name_the_url(server, capsys):
    origin, _, _ = server
    code, _, err = run(capsys, "why", "nope", "--plan-url", origin)
    assert code == 1 and err.startswith('error: node "nope" not found (not a node of http://127.0.0.1:')
    code, _, err = run(capsys, "plan", "--plan-url", origin + "/healthz")
    assert code == 1 and "with something that is not JSON: is it joulie's /plan?" in err
    dead = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "top", "--plan-url", dead)
    assert code == 1 and err.startswith(f"error: cannot reach {dead}/plan: ") and "refused" in err
