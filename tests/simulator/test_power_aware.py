"""`joulie simulate --power-aware-scoring`: run P is run J with the extender's power-aware score."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import joulie.core.power
from joulie.cli import main
from labeller.config import PlannerConfig
from simulator.engine import RunSpec, Simulation
from simulator.hardware import CPU_NODE
from simulator.scenario import Scenario, run_scenario
from simulator.workload import GeneratorConfig, Job

SMALL = Scenario(nodes=8, workload=GeneratorConfig(hours=2.0), seed=7, power_aware_scoring=True)


def test_run_p_compares_with_j_on_the_same_trace_and_finishes_all_work():
    results = {r.spec.key: r for r in run_scenario(SMALL.model_copy(update={"runs": ("J",)}))}
    assert set(results) == {"J", "P"} and results["P"].spec.power_aware and not results["J"].spec.power_aware
    assert [j.id for j in results["J"].jobs] == [j.id for j in results["P"].jobs]
    assert results["P"].unfinished == 0 and results["J"].unfinished == 0
    # a different placement rule: somewhere the two runs put a job on different nodes
    assert [j.node for j in results["J"].jobs] != [j.node for j in results["P"].jobs]


def test_general_pods_consolidate_onto_a_busy_eco_node_instead_of_waking_an_idle_one(monkeypatch):
    """Waking an idle server costs the curve's steep first step; the power rule is the core's, called live."""
    jobs = [Job(id=f"j{i}", arrival=10.0 * i, demand="general", cpu_millis=8000, work_seconds=3000.0) for i in range(4)]
    spec = RunSpec(
        "P",
        "p",
        PlannerConfig(policy="static_partition", policy_params={"hp_frac": 0.0}),
        extender=True,
        power_aware=True,
    )
    result = Simulation(spec, [CPU_NODE] * 4, jobs, 3600.0, 1).run()
    assert len(Counter(j.node for j in result.jobs)) == 1  # all four on the first node they woke
    calls = []
    real = joulie.core.power.power_scores

    def spy(bands, increases):
        calls.append(len(increases))
        return real(bands, increases)

    monkeypatch.setattr(joulie.core.power, "power_scores", spy)
    Simulation(spec, [CPU_NODE] * 4, jobs, 3600.0, 1).run()
    assert calls


def test_the_flag_adds_run_p_to_the_table(tmp_path: Path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "simulate",
            "--nodes",
            "6",
            "--hours",
            "1",
            "--runs",
            "A,J",
            "--power-aware-scoring",
            "--json",
            "--no-plots",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    runs = {r["run"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert set(runs) == {"A", "J", "P"}
    assert runs["P"]["title"].endswith("power-aware scoring") and runs["P"]["energy_kwh"] > 0
