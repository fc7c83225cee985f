"""PowerCappingPolicies through the real reconciler over an in-memory cluster (the agents' readings injected)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from joulie.api.v1alpha1 import npp_name
from joulie.core.store import ClusterStore
from labeller.budgets.source import CachedBudgetSource, PolicyCache
from labeller.config import PlannerConfig
from labeller.memory import InMemoryCluster
from labeller.planner import Planner
from labeller.profiles import ProfileCache
from labeller.reconciler import Reconciler
from tests.builders import node

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> float:
        return self.t


class Heat:
    def __init__(self) -> None:
        self.temps: dict[str, float] = {}

    def __call__(self, node: str, _now: float) -> float | None:
        return self.temps.get(node)


@dataclass
class Harness:
    store: ClusterStore
    profiles: ProfileCache
    pcps: PolicyCache
    cluster: InMemoryCluster
    rec: Reconciler
    clock: Clock
    heat: Heat


def setup(policies: list[dict], nodes: int = 4, **planner) -> Harness:
    store, profiles, pcps, clock, heat = ClusterStore(), ProfileCache(), PolicyCache(), Clock(), Heat()
    store.replace_nodes([node(f"n{i}", **{"topology.joulie.io/rack": "r1" if i < 2 else "r2"}) for i in range(nodes)])
    pcps.replace(policies)
    cluster = InMemoryCluster(store, profiles, policies=pcps)
    planner.setdefault("policy", "static_partition")
    rec = Reconciler(
        store,
        profiles,
        Planner(PlannerConfig(**planner)),
        cluster,
        clock=clock,
        budgets=CachedBudgetSource(pcps, inlet=heat),
    )
    return Harness(store, profiles, pcps, cluster, rec, clock, heat)


def report(profiles: ProfileCache, name: str, package_watts: float, at: float, packages: int = 2) -> None:
    """What the node's agent writes into the NodePowerProfile status."""
    observed = profiles.get(npp_name(name))
    assert observed is not None
    profiles.upsert(
        {
            "metadata": {"name": observed.name, "annotations": dict(observed.annotations)},
            "spec": dict(observed.spec or {}),
            "status": {
                "power": {
                    "measuredAt": datetime.fromtimestamp(at, UTC).isoformat(),
                    "packages": packages,
                    "packageWatts": package_watts,
                    "packageCapMinWatts": 27.0,
                    "packageCapMaxWatts": 270.0,
                    "packageFloorWatts": 40.0,
                }
            },
        }
    )


def policy(name: str = "budget", limit: float = 2000.0, **spec) -> dict:
    return {
        "apiVersion": "joulie.io/v1alpha1",
        "kind": "PowerCappingPolicy",
        "metadata": {"name": name},
        "spec": {"powerCapLimit": limit, "telemetry": {"nodeOverheadWatts": 100}, **spec},
    }


def caps(profiles: ProfileCache) -> dict[str, float]:
    return {o.node_name: o.cpu_cap_watts for o in profiles.items()}


def all_report(profiles, watts: dict[str, float], at: float) -> None:
    for name, w in watts.items():
        report(profiles, name, w, at)


def test_a_budget_below_demand_cuts_eco_nodes_and_spares_performance():
    h = setup([policy(limit=1500)])
    h.rec.reconcile()  # h.profiles exist: now the agents report
    plan = h.rec.latest_plan
    perf = sorted(d.name for d in plan.nodes if d.profile == "performance")
    eco = sorted(d.name for d in plan.nodes if d.profile == "eco")
    all_report(h.profiles, {n: 400.0 for n in perf + eco}, h.clock.t)  # demand 4 x 500 = 2000 W
    result = h.rec.reconcile()
    got = caps(h.profiles)
    assert all(got[n] == 5000 for n in perf)  # performance keeps its caps
    assert all(got[n] < 120 for n in eco)  # eco absorbs the cut (below its 120 W eco cap)
    reserved = sum(h.rec.latest_plan.decision(n).budget.share_watts for n in perf)
    most = reserved + sum(100 + 2 * got[n] for n in eco)
    assert most <= 1500, got  # what performance draws (+ margin) and the eco caps allow stays within the budget
    status = h.cluster.policy_statuses["budget"]
    assert status["state"] == "OverBudget" and status["budgetWatts"] == 1470  # 2 % below the limit; 2000 W measured
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds["TelemetryFresh"] == "True" and conds["BudgetInsufficient"] == "False"
    assert result.writes.get("policy-status") == 1
    note = h.rec.latest_plan.decision(eco[0]).to_json()
    assert note["budget"]["policy"] == "budget" and note["budgetShareWatts"] < 500
    assert h.rec.latest_plan.to_json()["budgets"][0]["name"] == "budget"


def test_when_performance_alone_exceeds_the_budget_it_is_capped_and_the_shortfall_said():
    h = setup([policy(limit=900)], policy_params={"hp_frac": 1.0})
    h.rec.reconcile()
    all_report(h.profiles, {f"n{i}": 400.0 for i in range(4)}, h.clock.t)
    h.rec.reconcile()
    status = h.cluster.policy_statuses["budget"]
    assert status["state"] == "BudgetInsufficient" and status["shortfallWatts"] > 0
    assert all(c < 5000 for c in caps(h.profiles).values())
    assert any(e.reason == "BudgetInsufficient" and e.type == "Warning" for e in h.cluster.events)


def test_stale_telemetry_keeps_the_caps_and_never_raises_them():
    h = setup([policy(limit=1200)])
    h.rec.reconcile()
    all_report(h.profiles, {f"n{i}": 400.0 for i in range(4)}, h.clock.t)
    h.rec.reconcile()
    before = caps(h.profiles)
    h.clock.t += 600  # the agents stop reporting; demand is gone, yet nothing may rise
    all_report(h.profiles, {f"n{i}": 50.0 for i in range(4)}, NOW)  # old readings
    h.rec.reconcile()
    after = caps(h.profiles)
    assert all(after[n] <= before[n] for n in before), (before, after)
    conds = {c["type"]: c for c in h.cluster.policy_statuses["budget"]["conditions"]}
    assert conds["TelemetryFresh"]["status"] == "False" and "kept, never raised" in conds["TelemetryFresh"]["message"]


def test_an_unknown_algorithm_holds_the_last_safe_caps_and_says_which():
    h = setup([policy(limit=1200)])
    h.rec.reconcile()
    all_report(h.profiles, {f"n{i}": 400.0 for i in range(4)}, h.clock.t)
    h.rec.reconcile()
    held = caps(h.profiles)
    h.pcps.upsert(policy(limit=1200, customAlgorithm={"name": "magic"}))
    all_report(h.profiles, {f"n{i}": 10.0 for i in range(4)}, h.clock.t)
    h.rec.reconcile()
    assert caps(h.profiles) == held
    status = h.cluster.policy_statuses["budget"]
    assert status["state"] == "InvalidAlgorithm"
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False" and "unknown budget algorithm 'magic'" in valid["message"]
    h.pcps.upsert(
        policy(limit=1200, customAlgorithm={"name": "energy-aware-scheduling", "parameters": {"energyThreshold": -1}})
    )
    h.rec.reconcile()
    assert (
        "energyThreshold"
        in next(c for c in h.cluster.policy_statuses["budget"]["conditions"] if c["type"] == "Valid")["message"]
    )


def test_two_policies_selecting_the_same_node_are_an_error_on_both():
    h = setup(
        [
            policy("a", 1000, nodeSelector="topology.joulie.io/rack=r1"),
            policy("b", 1000, nodeSelector="joulie.io/managed=true"),
        ]
    )
    h.rec.reconcile()
    for name in ("a", "b"):
        status = h.cluster.policy_statuses[name]
        assert status["state"] == "OverlappingPolicies"
        message = next(c["message"] for c in status["conditions"] if c["type"] == "Valid")
        assert ("b" if name == "a" else "a") in message and "n0" in message


def test_a_rack_that_overheats_is_staged_down_and_cleared_with_hysteresis():
    racks = [{"rackId": "r1", "maxTemperature": 30, "temperatureMargin": 2}]
    h = setup([policy(limit=10_000, rackConstraints=racks)])
    h.rec.reconcile()
    stages = []
    for temp in (31, 31, 31, 29, 27.5):
        all_report(h.profiles, {f"n{i}": 300.0 for i in range(4)}, h.clock.t)
        h.heat.temps = {"n0": temp, "n1": temp - 3}
        h.rec.reconcile()
        stages.append(h.cluster.policy_statuses["budget"]["racks"][0]["stage"])
        if stages[-1] == 3:
            rack1 = {n: c for n, c in caps(h.profiles).items() if n in ("n0", "n1")}
            assert all(c == 40 for c in rack1.values()), rack1  # everyone in the rack at the minimum
            assert all(caps(h.profiles)[n] in (5000, 120) for n in ("n2", "n3"))  # the other rack untouched
        h.clock.t += 30
    assert stages == [1, 2, 3, 3, 0]
    guard = h.rec.latest_plan.guards["n0"]
    assert guard.rack == "r1" and guard.stage == 0
    reasons = [e.reason for e in h.cluster.events if e.node == "PowerCappingPolicy/budget"]
    assert "RackThermalNoNewWork" in reasons and "RackThermalNormal" in reasons


def test_deleting_the_policy_restores_the_caps_the_labeller_would_set_without_it():
    h = setup([policy(limit=1000)])
    h.rec.reconcile()
    all_report(h.profiles, {f"n{i}": 400.0 for i in range(4)}, h.clock.t)
    h.rec.reconcile()
    assert any(c < 120 for c in caps(h.profiles).values())
    h.pcps.delete("budget")
    h.rec.reconcile()
    assert sorted(caps(h.profiles).values()) == [120, 120, 5000, 5000]
