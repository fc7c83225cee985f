"""A power budget in the twin: the labeller's controller holds it, the other runs are measured against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from joulie.cli import main as simulate_main
from simulator.budget import OverBudget, power_reading
from simulator.hardware import CPU_NODE, GPU_NODE, node_operating
from simulator.scenario import Scenario, run_scenario
from simulator.workload import GeneratorConfig

SMALL = dict(nodes=20, workload=GeneratorConfig(hours=4.0, load=0.85), seed=3, runs=("A", "J"))


def test_the_agents_report_what_the_hardware_model_draws() -> None:
    op = node_operating(CPU_NODE, 48, 0, 150.0, None)
    reading = power_reading(CPU_NODE, op, 1_800_000_000.0)
    assert reading.packages == 2 and reading.package_watts <= 2 * 150.0 + 1e-6  # the cap holds the packages
    assert reading.node_watts == pytest.approx(op.watts, abs=0.01) and reading.node_watts > reading.package_watts
    gpu = node_operating(GPU_NODE, 10, 8, None, 200.0)
    r = power_reading(GPU_NODE, gpu, 1_800_000_000.0)
    assert r.gpus == 8 and r.gpu_watts == pytest.approx(gpu.gpu_watts, abs=0.01) and r.gpu_cap_min_watts == 100


def test_over_budget_counts_time_energy_and_the_longest_stretch() -> None:
    ledger = OverBudget(1000.0)
    for watts in (900, 1100, 1200, 950, 1300):
        ledger.add(watts, 30.0)
    assert ledger.seconds == 90 and ledger.longest_seconds == 60
    assert ledger.kwh == pytest.approx((100 + 200 + 300) * 30 / 3.6e6)


def test_joulie_holds_a_budget_the_unmanaged_cluster_breaks() -> None:
    free = {r.spec.key: r for r in run_scenario(Scenario(**SMALL))}
    budget = 0.75 * free["A"].peak_watts
    runs = {r.spec.key: r for r in run_scenario(Scenario(**SMALL, power_budget_watts=budget))}
    a, j = runs["A"], runs["J"]
    assert a.budget["over_budget_seconds"] > 1800  # unmanaged, the cluster spends half an hour above it
    # Joulie: never above it longer than one reconcile plus one agent interval
    assert j.budget["over_budget_longest_seconds"] <= 60
    assert j.budget["over_budget_kwh"] < 0.02 * a.budget["over_budget_kwh"]
    assert j.peak_watts < budget * 1.05
    assert j.unfinished == 0  # the work still gets done
    assert j.energy_j < free["J"].energy_j * 1.02  # and the budget costs no extra energy


def test_racks_are_held_to_their_limit(tmp_path: Path, capsys) -> None:
    out = tmp_path / "racks"
    code = simulate_main(
        [
            "simulate",
            "--nodes",
            "20",
            "--hours",
            "3",
            "--seed",
            "3",
            "--runs",
            "A,J",
            "--rack-size",
            "5",
            "--rack-max-watts",
            "1400",
            "--no-plots",
            "--no-progress",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "racks over" in printed and "rack longest" in printed
    rows = {r["run"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    assert rows["A"]["rack_over_budget_seconds"] > rows["J"]["rack_over_budget_seconds"]
    assert rows["J"]["rack_over_budget_longest_seconds"] <= 60


def test_rack_limits_need_a_rack_size(capsys) -> None:
    code = simulate_main(["simulate", "--rack-max-watts", "2000", "--no-progress", "--no-plots"])
    assert code == 2
    assert "--rack-size" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--power-budget-watts", "-5"], "--power-budget-watts"),
        (["--power-budget-watts", "0"], "--power-budget-watts"),
        (["--rack-size", "-1"], "--rack-size"),
        (["--rack-size", "4", "--rack-max-watts", "0"], "--rack-max-watts"),
    ],
)
def test_bad_budget_flags_name_the_flag(argv, flag, capsys) -> None:
    assert simulate_main(["simulate", *argv, "--no-progress", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("joulie: ") and flag in err and "Traceback" not in err
