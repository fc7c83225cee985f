"""Reconciler over an in-memory cluster: writes only differences, guard invariant, GC, hand edits."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from joulie.api.v1alpha1 import npp_name
from joulie.core.guard import NodeState, is_safe
from joulie.core.store import ClusterStore
from labeller.config import PlannerConfig
from labeller.memory import InMemoryCluster
from labeller.planner import Planner
from labeller.reconciler import ProfileCache, Reconciler
from tests.builders import node, pod


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def setup(nodes, pods=(), **cfg):
    cfg.setdefault("policy", "static_partition")
    store, profiles = ClusterStore(), ProfileCache()
    store.replace_nodes(nodes)
    store.replace_pods(pods)
    cluster = InMemoryCluster(store, profiles)
    clock = Clock()
    rec = Reconciler(store, profiles, Planner(PlannerConfig(**cfg)), cluster, clock=clock)
    return store, profiles, cluster, rec, clock


def test_first_pass_writes_labels_and_profiles_then_nothing():
    store, profiles, cluster, rec, _ = setup([node(f"n{i}") for i in range(4)])
    first = rec.reconcile()
    assert first.writes == {"nodepowerprofile": 4, "labels": 4}
    assert store.node("n0").labels["joulie.io/power-profile"] == "performance"
    assert store.node("n3").labels["joulie.io/draining"] == "false"
    npp = profiles.get(npp_name("n3"))
    assert npp.spec["profile"] == "eco" and npp.spec["cpu"]["packagePowerCapWatts"] == 120
    assert npp.spec["policy"] == {"name": "static_partition"}
    second = rec.reconcile()
    assert second.write_count == 0 and not second.errors
    assert [e.reason for e in cluster.events].count("PowerProfileActivePerformance") == 2


def test_hand_edit_is_reverted_with_warning_event():
    _store, profiles, cluster, rec, _ = setup([node("a"), node("b")])
    rec.reconcile()
    edited = dict(profiles.get("node-b").spec, profile="performance")
    profiles.upsert({"metadata": {"name": "node-b"}, "spec": edited})
    result = rec.reconcile()
    assert result.writes == {"nodepowerprofile": 1}
    assert profiles.get("node-b").spec["profile"] == "eco"
    warning = [e for e in cluster.events if e.reason == "ProfileReverted"]
    assert warning and warning[0].type == "Warning" and "edited by hand" in warning[0].message


def test_node_leaving_management_is_collected():
    store, profiles, _cluster, rec, _ = setup([node("a"), node("b")])
    rec.reconcile()
    store.upsert_node(node("b", "eco", False, managed=False))
    result = rec.reconcile()
    assert profiles.get("node-b") is None
    assert "joulie.io/power-profile" not in store.node("b").labels
    assert result.writes["nodepowerprofile-delete"] == 1
    store.delete_node("a")
    rec.reconcile()
    assert profiles.items() == []


def test_cordoned_node_keeps_its_profile():
    store, profiles, _cluster, rec, _ = setup([node("a"), node("b")])
    rec.reconcile()
    store.upsert_node(node("b", "eco", False, unschedulable=True))
    rec.reconcile()
    assert profiles.get("node-b") is not None


def test_write_failure_does_not_stop_other_nodes():
    store, profiles, cluster, rec, _ = setup([node("a"), node("b"), node("c")])

    from labeller.writes import WriteError

    original = cluster.apply_profile

    def flaky(profile):
        if profile.spec.node_name == "b":
            raise WriteError("conflict")
        return original(profile)

    cluster.apply_profile = flaky
    result = rec.reconcile()
    assert len(result.errors) == 1 and "b: conflict" in result.errors[0]
    assert profiles.get("node-a") and profiles.get("node-c") and not profiles.get("node-b")
    # b's labels are not written before its profile exists: no supply without a target
    assert "joulie.io/power-profile" not in store.node("b").labels
    cluster.apply_profile = original
    assert rec.reconcile().writes == {"nodepowerprofile": 1, "labels": 1}


def test_unschedulable_performance_pod_promotes_a_node():
    store, _profiles, _cluster, rec, clock = setup(
        [node(n, "eco", False) for n in "abc"], policy_params={"hp_frac": 0.0}
    )
    rec.reconcile()
    assert rec.latest_plan.performance_count == 0
    store.upsert_pod(pod("urgent", None, "performance", unschedulable=True))
    clock.t += 1
    rec.reconcile("pod: default/urgent unschedulable")
    assert rec.latest_plan.performance_count == 1
    assert store.node("a").labels["joulie.io/power-profile"] == "performance"
    # the floor holds across ticks while the pod lands
    clock.t += 30
    store.upsert_pod(pod("urgent", "a", "performance"))
    rec.reconcile()
    assert rec.latest_plan.performance_count == 1
    # and expires after the hold
    store.delete_pod("uid-default-urgent")
    clock.t += 200
    rec.reconcile()
    assert rec.latest_plan.performance_count == 0


def test_pod_too_big_for_any_eco_node_does_not_promote():
    store, _profiles, _cluster, rec, _clock = setup(
        [node(n, "eco", False, cpu="4") for n in "ab"], policy_params={"hp_frac": 0.0}
    )
    store.upsert_pod(pod("huge", None, "performance", cpu="64", unschedulable=True))
    rec.reconcile()
    assert rec.latest_plan.performance_count == 0


def test_dry_run_writes_nothing():
    _store, profiles, cluster, rec, _ = setup([node("a")])
    rec.dry_run = True
    rec.reconcile()
    assert cluster.writes == 0 and profiles.items() == []


def test_restart_reads_since_from_profiles_and_keeps_dwell():
    store, profiles, cluster, rec, clock = setup(
        [node("a"), node("b")], dwell_seconds=600, policy_params={"hp_frac": 1.0}
    )
    rec.reconcile()
    # a new process (no previous plan) with a policy that now wants no performance nodes
    rec2 = Reconciler(
        store,
        profiles,
        Planner(PlannerConfig(policy="static_partition", dwell_seconds=600, policy_params={"hp_frac": 0.0})),
        cluster,
        clock=clock,
    )
    clock.t += 60
    rec2.reconcile()
    assert rec2.latest_plan.performance_count == 2
    clock.t += 600
    rec2.reconcile()
    assert rec2.latest_plan.performance_count == 0


# ---------------------------------------------------------------- property test

NODE_NAMES = [f"n{i}" for i in range(5)]
event = st.one_of(
    st.tuples(
        st.just("pod"),
        st.integers(0, 9),
        st.sampled_from([*NODE_NAMES, None]),
        st.sampled_from(["performance", "eco", "general"]),
        st.sampled_from(["Running", "Pending", "Succeeded"]),
    ),
    st.tuples(st.just("delete_pod"), st.integers(0, 9)),
    st.tuples(st.just("node"), st.sampled_from(NODE_NAMES), st.booleans()),
    st.tuples(st.just("delete_node"), st.sampled_from(NODE_NAMES)),
    st.tuples(st.just("tick"), st.integers(1, 120)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(event, min_size=1, max_size=40),
    policy=st.sampled_from(["static_partition", "queue_aware_v1", "rule_swap_v1"]),
    frac=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
    dwell=st.sampled_from([0, 90]),
)
def test_property_guard_invariant_and_no_redundant_writes(events, policy, frac, dwell):
    params = {
        "static_partition": {"hp_frac": frac},
        "queue_aware_v1": {"base_frac": frac, "hp_min": 0},
        "rule_swap_v1": {},
    }[policy]
    store, _profiles, cluster, rec, clock = setup(
        [node(n) for n in NODE_NAMES], policy=policy, policy_params=params, dwell_seconds=dwell
    )
    rec.reconcile()
    for ev in events:
        kind = ev[0]
        if kind == "pod":
            _, i, where, demand, phase = ev
            store.upsert_pod(pod(f"p{i}", where, demand, phase=phase if where else "Pending"))
        elif kind == "delete_pod":
            store.delete_pod(f"uid-default-p{ev[1]}")
        elif kind == "node":
            existing = store.node(ev[1])
            labels = dict(existing.labels) if existing else {}
            obj = node(ev[1], managed=ev[2])
            obj["metadata"]["labels"].update(
                {k: v for k, v in labels.items() if k.startswith(("joulie.io/p", "joulie.io/d"))}
            )
            store.upsert_node(obj)
        elif kind == "delete_node":
            store.delete_node(ev[1])
        else:
            clock.t += ev[1]
        rec.reconcile()
        # invariant on what the cluster advertises (labels), not just on the plan
        for name in sorted(store.snapshot().nodes):
            n = store.node(name)
            if n.labels.get("joulie.io/managed") != "true":
                continue
            state = NodeState.from_labels(n.profile_label, n.draining_label)
            assert state is not None
            assert is_safe(state, store.performance_pods_on(name)), (name, state)
        # a second pass at the same instant with nothing changed writes nothing
        before = cluster.writes
        rec.reconcile()
        assert cluster.writes == before
