"""The simulator runs Joulie's own decision code, and it decides what a cluster would."""

from __future__ import annotations

from collections import Counter

import pytest

import joulie.core.supply
import labeller.planner
from labeller.config import PlannerConfig
from simulator.engine import RunSpec, Simulation
from simulator.hardware import CPU_NODE
from simulator.report import summarize
from simulator.scenario import Scenario, run_scenario
from simulator.scheduler import required_affinity_matches
from simulator.workload import GeneratorConfig, Job, pod_object

SMALL = Scenario(nodes=8, workload=GeneratorConfig(hours=2.0), seed=7)


def _jobs(*specs: tuple[str, int, float, float]) -> list[Job]:
    return [
        Job(id=f"j{i}", arrival=t, demand=d, cpu_millis=c * 1000, work_seconds=w)
        for i, (d, c, t, w) in enumerate(specs)
    ]


def _joulie(policy: str = "queue_aware_v1", **params: object) -> RunSpec:
    return RunSpec("J", "joulie", PlannerConfig(policy=policy, policy_params=params), extender=True, feedback=True)


def test_extender_score_is_the_one_the_simulator_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flip the extender's score so general pods prefer performance nodes: placements follow."""
    jobs = _jobs(*[("general", 4, 10.0 * i, 600.0) for i in range(6)])
    spec = RunSpec(
        "J", "joulie", PlannerConfig(policy="static_partition", policy_params={"hp_frac": 0.5}), extender=True
    )

    def where(result):
        return Counter(j.start_profile for j in result.jobs)

    honest = where(Simulation(spec, [CPU_NODE] * 4, jobs, 3600.0, 1).run())
    assert honest == {"eco": 6}

    calls = []
    real_score = joulie.core.supply.score

    def flipped(demand, supply, used, alloc):
        calls.append(demand)
        return 10 - real_score(demand, supply, used, alloc)

    monkeypatch.setattr(joulie.core.supply, "score", flipped)
    assert where(Simulation(spec, [CPU_NODE] * 4, jobs, 3600.0, 1).run()) == {"performance": 6}
    assert calls


def test_planner_and_extender_filter_are_called(monkeypatch: pytest.MonkeyPatch) -> None:
    counts: Counter[str] = Counter()
    real_plan, real_filter = labeller.planner.Planner.plan, joulie.core.supply.filter_nodes

    def plan(self, *a, **k):
        counts["plan"] += 1
        return real_plan(self, *a, **k)

    def filter_nodes(*a, **k):
        counts["filter"] += 1
        return real_filter(*a, **k)

    monkeypatch.setattr(labeller.planner.Planner, "plan", plan)
    monkeypatch.setattr(joulie.core.supply, "filter_nodes", filter_nodes)
    run_scenario(SMALL.model_copy(update={"runs": ("J",)}))
    assert counts["plan"] > 100 and counts["filter"] > 10


def test_feedback_promotes_a_node_for_a_performance_pod_at_once() -> None:
    """All nodes eco by policy; a performance pod cannot land until feedback promotes one."""
    jobs = _jobs(("performance", 8, 0.0, 600.0))
    fleet = [CPU_NODE] * 3
    eco_only = {"hp_frac": 0.0}
    with_feedback = Simulation(_joulie("static_partition", **eco_only), fleet, jobs, 3600.0, 1).run()
    assert with_feedback.unfinished == 0
    assert with_feedback.jobs[0].pending == 0.0
    assert with_feedback.jobs[0].start_profile == "performance"
    assert with_feedback.feedback_reconciles >= 1

    no_feedback = RunSpec(
        "B",
        "static",
        PlannerConfig(
            policy="static_partition",
            policy_params=eco_only,
            feedback_hold_seconds=0,
            performance_wait_target_seconds=0,
        ),
    )
    stuck = Simulation(no_feedback, fleet, jobs, 3600.0, 1).run()
    assert stuck.unfinished == 1  # upstream's static partition never makes room


def test_performance_pods_never_land_on_eco_nodes() -> None:
    results = run_scenario(SMALL)
    for r in results[1:]:
        profiles = Counter(j.start_profile for j in r.jobs if j.demand == "performance")
        assert set(profiles) == {"performance"}, (r.spec.key, profiles)
        eco = Counter(j.start_profile for j in r.jobs if j.demand == "eco")
        assert set(eco) <= {"eco"}, (r.spec.key, eco)


def test_same_seed_same_results_and_different_seed_different_trace() -> None:
    def rows(scenario: Scenario) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in summarize(run_scenario(scenario))]

    assert rows(SMALL) == rows(SMALL)
    assert SMALL.trace() != SMALL.model_copy(update={"seed": 8}).trace()


def test_every_run_finishes_all_work_so_energy_compares_equal_work() -> None:
    results = run_scenario(SMALL)
    assert len({len(r.jobs) for r in results}) == 1
    assert all(r.unfinished == 0 for r in results)
    assert all(r.end_time >= r.horizon for r in results)


def test_unmanaged_pods_carry_no_constraints_and_managed_ones_upstreams() -> None:
    job = _jobs(("eco", 4, 0.0, 60.0))[0]
    assert "affinity" not in pod_object(job, with_constraints=False)["spec"]
    spec = pod_object(job)["spec"]
    eco_node = {"joulie.io/power-profile": "eco", "joulie.io/draining": "false"}
    assert required_affinity_matches(spec, eco_node)
    assert not required_affinity_matches(spec, {**eco_node, "joulie.io/draining": "true"})
    assert not required_affinity_matches(spec, {"joulie.io/power-profile": "performance"})
    perf = pod_object(_jobs(("performance", 4, 0.0, 60.0))[0])["spec"]
    assert required_affinity_matches(perf, {})  # NotIn matches a node without the label
    assert not required_affinity_matches(perf, eco_node)
