"""Planner: eligibility, churn-aware choice, dwell, guard and feedback floor."""

from __future__ import annotations

from joulie.core.guard import NodeState, guard, is_safe
from joulie.core.plan import Eligibility
from joulie.core.store import ClusterStore
from labeller.config import PlannerConfig
from labeller.planner import Planner
from tests.builders import node, pod


def make_store(nodes, pods=()):
    store = ClusterStore()
    store.replace_nodes(nodes)
    store.replace_pods(pods)
    return store


def plan_for(store, now=1000.0, previous=None, since=None, holds=None, **cfg):
    cfg.setdefault("policy", "static_partition")
    cfg.setdefault("performance_wait_target_seconds", 0)  # the policy alone here; tests/test_wait_target.py adds it
    return Planner(PlannerConfig(**cfg)).plan(store.snapshot(), now, previous=previous, since=since, holds=holds)


def holds_of(plan):
    return {d.name: d.hold for d in plan.nodes if d.hold is not None}


def profiles(plan):
    return {d.name: (d.profile, d.draining) for d in plan.nodes}


def test_guard_transitions():
    assert guard("performance", 3) is NodeState.ACTIVE_PERFORMANCE
    assert guard("eco", 2) is NodeState.DRAINING_PERFORMANCE
    assert guard("eco", 0) is NodeState.ACTIVE_ECO
    assert not is_safe(NodeState.ACTIVE_ECO, 1)
    assert is_safe(NodeState.DRAINING_PERFORMANCE, 1)


def test_guard_sequence_drain_then_eco():
    """perf node planned eco: draining while its pods run, ActiveEco once they are gone."""
    store = make_store(
        [node("a", "performance", False), node("b", "performance", False)],
        [pod("p1", "b", "performance"), pod("p2", "b", "performance")],
    )
    cfg = dict(policy_params={"hp_frac": 0.5})
    first = plan_for(store, **cfg)
    # churn-aware: a (0 perf pods) goes eco, b (2 perf pods) stays performance
    assert profiles(first) == {"a": ("eco", False), "b": ("performance", False)}
    # now the policy wants none: b must drain, not drop
    drained = plan_for(store, previous=first, policy_params={"hp_frac": 0.0})
    assert drained.decision("b").state is NodeState.DRAINING_PERFORMANCE
    assert "draining until its 2 performance pods finish" in drained.decision("b").reason
    store.delete_pod("uid-default-p1")
    still = plan_for(store, previous=drained, policy_params={"hp_frac": 0.0})
    assert still.decision("b").state is NodeState.DRAINING_PERFORMANCE
    store.upsert_pod(pod("p2", "b", "performance", phase="Succeeded"))
    done = plan_for(store, previous=still, policy_params={"hp_frac": 0.0})
    assert done.decision("b").state is NodeState.ACTIVE_ECO


def test_fresh_cluster_matches_upstream_name_order():
    store = make_store([node(f"n{i}") for i in range(5)])
    plan = plan_for(store)
    assert [d.profile for d in plan.nodes] == ["performance"] * 3 + ["eco"] * 2


def test_eligibility_selector_reserved_cordoned():
    store = make_store(
        [
            node("a"),
            node("b", managed=False),
            node("c", **{"joulie.io/reserved": "true"}),
            node("d", unschedulable=True),
            node("e"),
        ]
    )
    plan = plan_for(store)
    assert [d.name for d in plan.nodes] == ["a", "e"]
    assert plan.skipped["c"] is Eligibility.RESERVED and plan.skipped["d"] is Eligibility.CORDONED
    assert "cordoned" in plan.to_json()["skipped"][1]["reason"]
    assert "b" not in plan.skipped


def test_custom_selector():
    store = make_store([node("a", managed=False, pool="batch"), node("b", managed=False, pool="web")])
    plan = plan_for(store, node_selector="pool in (batch)")
    assert [d.name for d in plan.nodes] == ["a"]


def test_keeps_current_assignment_instead_of_name_order():
    store = make_store(
        [
            node("a", "eco", False),
            node("b", "eco", False),
            node("c", "performance", False),
            node("d", "performance", False),
        ]
    )
    plan = plan_for(store)  # hp = 2: upstream would pick a, b and flip all four nodes
    assert profiles(plan) == {
        "a": ("eco", False),
        "b": ("eco", False),
        "c": ("performance", False),
        "d": ("performance", False),
    }


def test_downgrade_picks_fewest_performance_pods():
    store = make_store(
        [node(n, "performance", False) for n in "abc"],
        [pod("x1", "a", "performance"), pod("x2", "a", "performance"), pod("y", "c", "performance")],
    )
    plan = plan_for(store, policy_params={"hp_frac": 0.34})  # 1 of 3
    assert profiles(plan)["a"] == ("performance", False)
    assert profiles(plan)["b"] == ("eco", False)  # zero perf pods: straight to eco
    assert profiles(plan)["c"] == ("eco", True)  # one perf pod: draining


def test_promotion_prefers_draining_node():
    store = make_store(
        [node("a", "eco", False), node("b", "eco", True), node("c", "eco", False)], [pod("x", "b", "performance")]
    )
    plan = plan_for(store, policy_params={"hp_frac": 0.34})
    assert plan.decision("b").state is NodeState.ACTIVE_PERFORMANCE
    assert "promoted" in plan.decision("b").reason


def test_dwell_holds_recent_performance_node():
    store = make_store([node("a", "performance", False), node("b", "performance", False)])
    since = {"a": 950.0, "b": 500.0}
    plan = plan_for(store, now=1000.0, since=since, dwell_seconds=300, policy_params={"hp_frac": 0.0})
    assert plan.decision("a").profile == "performance"
    assert "minimum dwell (250s left)" in plan.decision("a").reason
    assert plan.decision("b").profile == "eco"
    later = plan_for(store, now=1300.0, since=since, dwell_seconds=300, policy_params={"hp_frac": 0.0})
    assert later.decision("a").profile == "eco"


def test_dwell_zero_is_upstream_behaviour():
    store = make_store([node("a", "performance", False)])
    plan = plan_for(store, since={"a": 999.0}, policy_params={"hp_frac": 0.0})
    assert plan.decision("a").profile == "eco"


def test_dwell_never_delays_promotion():
    store = make_store([node("a", "eco", False)])
    plan = plan_for(store, since={"a": 999.0}, dwell_seconds=600, policy_params={"hp_frac": 1.0})
    assert plan.decision("a").profile == "performance"


def test_since_carries_over_and_resets_on_change():
    store = make_store([node("a", "performance", False), node("b", "eco", False)])
    first = plan_for(store, now=100.0, since={"a": 10.0, "b": 20.0}, policy_params={"hp_frac": 0.5})
    assert first.decision("a").since == 10.0 and first.decision("b").since == 20.0
    flipped = plan_for(store, now=200.0, previous=first, policy_params={"hp_frac": 0.0})
    assert flipped.decision("a").since == 200.0 and flipped.decision("b").since == 20.0


def test_unschedulable_performance_pods_raise_the_target_and_the_promoted_nodes_hold_them():
    waiting = [pod(f"w{i:02d}", None, "performance", unschedulable=True) for i in range(12)]
    store = make_store([node(n, "eco", False) for n in "abcd"], waiting)
    plan = plan_for(store, now=1000.0, policy_params={"hp_frac": 0.0}, feedback_pods_per_node=10)
    assert plan.performance_count == 2 and plan.target_performance == 2  # ceil(12 / 10) nodes
    assert "raised to 2 by feedback: 12 performance pods found no node" in plan.decision("a").reason
    holds = holds_of(plan)
    assert sorted(holds) == ["a", "b"] and all(h.until == 1120.0 for h in holds.values())
    assert sorted(len(h.pods) for h in holds.values()) == [2, 10]
    assert set().union(*(h.pods for h in holds.values())) == {p["metadata"]["uid"] for p in waiting}
    assert plan.unmet_pods == 12 and plan.floor is not None and plan.floor.nodes == 2


def test_a_hold_pins_its_node_while_its_pods_wait_and_counts_them_once():
    store = make_store([node(n, "eco", False) for n in "abc"], [pod("w", None, "performance", unschedulable=True)])
    first = plan_for(store, now=1000.0, policy_params={"hp_frac": 0.0})
    holds = holds_of(first)
    assert list(holds) == ["a"]
    # the next ticks: still waiting (say a taint no promotion fixes) -> the same node, never a second one
    for now in (1030.0, 1060.0, 1500.0):
        later = plan_for(store, now=now, holds=holds, policy_params={"hp_frac": 0.0})
        assert later.unmet_pods == 0 and holds_of(later) == holds
        assert [d.name for d in later.nodes if d.profile == "performance"] == (["a"] if now < 1120 else [])
    assert (
        "held performance by feedback"
        in plan_for(store, now=1030.0, holds=holds, policy_params={"hp_frac": 0.0}).decision("a").reason
    )


def test_a_hold_ends_with_the_pods_it_was_for():
    store = make_store([node(n, "eco", False) for n in "ab"], [pod("w", None, "performance", unschedulable=True)])
    holds = holds_of(plan_for(store, now=1000.0, policy_params={"hp_frac": 0.0}))
    store.delete_pod("uid-default-w")
    gone = plan_for(store, now=1010.0, holds=holds, policy_params={"hp_frac": 0.0})
    assert gone.performance_count == 0 and holds_of(gone) == {} and gone.floor is None
    # landed on its node: the node runs a performance pod, the hold keeps it until expiry
    store.upsert_pod(pod("w", "a", "performance"))
    landed = plan_for(store, now=1010.0, holds=holds, policy_params={"hp_frac": 0.0})
    assert landed.decision("a").profile == "performance" and landed.decision("a").hold == holds["a"]
    expired = plan_for(store, now=1200.0, holds=holds, policy_params={"hp_frac": 0.0})
    assert expired.decision("a").state is NodeState.DRAINING_PERFORMANCE and holds_of(expired) == {}


def test_feedback_hold_zero_means_no_feedback_promotions():
    store = make_store([node(n, "eco", False) for n in "ab"], [pod("w", None, "performance", unschedulable=True)])
    plan = plan_for(store, policy_params={"hp_frac": 0.0}, feedback_hold_seconds=0)
    assert plan.performance_count == 0 and plan.unmet_pods == 0


def test_caps_follow_profile():
    store = make_store([node("a"), node("b")])
    plan = plan_for(store, eco_caps={"cpu_watts": 90}, performance_caps={"cpu_watts": 400})
    assert {d.name: d.cap_watts for d in plan.nodes} == {"a": 400, "b": 90}


def test_draining_node_keeps_performance_caps_by_default():
    store = make_store([node("a", "performance", False)], [pod("x", "a", "performance")])
    cfg = dict(policy_params={"hp_frac": 0.0}, eco_caps={"cpu_watts": 90}, performance_caps={"cpu_watts": 400})
    default = plan_for(store, **cfg).decision("a")
    assert default.state is NodeState.DRAINING_PERFORMANCE and default.profile == "eco"
    assert default.cap_watts == 400 and "performance caps kept" in default.reason
    upstream = plan_for(store, draining_caps="eco", **cfg).decision("a")
    assert upstream.cap_watts == 90
    store.delete_pod("uid-default-x")
    assert plan_for(store, **cfg).decision("a").cap_watts == 90


def test_demand_counts_skip_finished_and_deleting_pods():
    store = make_store(
        [node("a")],
        [
            pod("r", "a", "performance"),
            pod("p", None, "performance"),
            pod("s", "a", "performance", phase="Succeeded"),
            pod("f", "a", "eco", phase="Failed"),
            pod("d", "a", "performance", deleting=True),
            pod("e", None, "eco"),
            pod("g", "a"),
        ],
    )
    d = plan_for(store).demand
    assert (d.performance, d.performance_pending, d.eco, d.general) == (2, 1, 1, 1)
    assert store.performance_pods_on("a") == 1


def test_plan_json_shape():
    store = make_store([node("a"), node("b")], [pod("x", "a", "performance")])
    out = plan_for(store).to_json()
    assert out["policy"] == "static_partition"
    assert out["demand"] == {"performance": 1, "eco": 0, "general": 0, "performancePending": 0}
    assert out["nodes"][0] == {
        "name": "a",
        "profile": "performance",
        "draining": False,
        "state": "ActivePerformance",
        "capWatts": 5000.0,
        "controls": {},
        "performancePods": 1,
        "reason": out["nodes"][0]["reason"],
    }
    assert out["nodes"][1]["controls"] == {"epp": "balance_power", "uncore": {"minPct": 0.0}}
    assert out["nodes"][0]["reason"].startswith("static_partition: round(2 x 0.5) = 1 performance")
