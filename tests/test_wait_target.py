"""The performance wait target: room ahead of demand, promotions where pods fit, lazy downgrades."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from joulie.core.model import PodInfo, timestamp
from joulie.core.store import ClusterStore
from labeller.config import PlannerConfig
from labeller.feedback import Candidate, place_unmet
from labeller.planner import Planner
from labeller.policies import build_policy
from labeller.policies.base import PolicyInput
from labeller.policies.wait_target import ArrivalRate, Arrivals, PoolNode, WaitTarget, recent_arrivals, size_pool
from tests.builders import node, pod

NOW = 1_767_225_600.0


def created(obj: dict[str, Any], seconds_ago: float) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(NOW - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj["metadata"]["creationTimestamp"] = stamp
    return obj


def gpu_node(name: str, profile: str | None = None, gpus: int = 8, cpu: str = "64") -> dict[str, Any]:
    obj = node(name, profile, False if profile else None, cpu=cpu)
    obj["status"]["allocatable"]["nvidia.com/gpu"] = str(gpus)
    return obj


def gpu_pod(name: str, node_name: str | None, gpus: int, cpu: str = "8", unschedulable: bool = False) -> dict:
    obj = pod(name, node_name, "performance", cpu=cpu, unschedulable=unschedulable)
    obj["spec"]["containers"][0]["resources"]["limits"] = {"nvidia.com/gpu": str(gpus)}
    return obj


def store_of(nodes, pods=()) -> ClusterStore:
    store = ClusterStore()
    store.replace_nodes(nodes)
    store.replace_pods(pods)
    return store


def plan(store, previous=None, now=NOW, **cfg):
    cfg.setdefault("policy", "static_partition")
    cfg.setdefault("policy_params", {"hp_frac": 0.0})
    return Planner(PlannerConfig(**cfg)).plan(store.snapshot(), now, previous=previous)


def performance(p) -> list[str]:
    return [d.name for d in p.nodes if d.profile == "performance" and not d.draining]


# ---------------------------------------------------------------- what the layer reads


def test_creation_timestamps_are_parsed_and_bad_ones_ignored():
    assert timestamp("2026-01-01T00:00:00Z") == NOW
    assert timestamp("2026-01-01T01:00:00+01:00") == NOW
    for bad in ("yesterday", "", None, 12):
        assert timestamp(bad) is None
    assert PodInfo.from_api(created(pod("p", None, "performance"), 30)).created == NOW - 30
    assert PodInfo.from_api(pod("q", None, "performance")).created is None


def test_the_store_bins_active_performance_pods_by_creation_time():
    store = store_of(
        [node("a")],
        [
            created(pod("p1", "a", "performance", cpu="4"), 5),
            created(pod("p2", None, "performance", cpu="8"), 5),
            created(pod("g", "a", "general", cpu="16"), 5),  # not performance
            created(pod("old", "a", "performance", cpu="2"), 7200),  # more than an hour before the newest
        ],
    )
    arrivals = recent_arrivals(store.snapshot().performance_arrivals, NOW)
    assert arrivals.burst.cpu_millis_per_second == pytest.approx(12000 / 120)
    assert arrivals.largest_cpu_millis == 8000
    store.delete_pod("uid-default-p2")  # finished or deleted: no longer an arrival the pool must hold
    assert recent_arrivals(store.snapshot().performance_arrivals, NOW).burst.cpu_millis_per_second == pytest.approx(
        4000 / 120
    )
    store.upsert_pod(created(pod("p1", "a", "performance", cpu="4", phase="Succeeded"), 5))
    (left,) = store.snapshot().performance_arrivals.values()  # the old pod is the newest now
    assert (left.pods, left.cpu_millis) == (1, 2000)


def test_gpus_requested_per_node_are_aggregated():
    store = store_of([gpu_node("g1")], [gpu_pod("t", "g1", 3), gpu_pod("u", None, 2)])
    assert store.snapshot().gpus_requested == {"g1": 3}


# ---------------------------------------------------------------- upstream formulas stay


@pytest.mark.parametrize(
    "policy, params",
    [("static_partition", {"hp_frac": 0.3}), ("queue_aware_v1", {}), ("queue_aware_v1", {"base_frac": 0.0})],
)
def test_upstream_policies_keep_their_exact_formulas(policy, params):
    """The layer only adds nodes when pods need room: the policy's own count and reason are untouched,
    and with nothing waiting or arriving the plan is the policy's."""
    names = [f"n{i:02d}" for i in range(10)]
    store = store_of([node(n) for n in names], [pod(f"p{i}", "n00", "performance") for i in range(7)])
    on = plan(store, policy=policy, policy_params=params)
    off = plan(store, policy=policy, policy_params=params, performance_wait_target_seconds=0)
    upstream = build_policy(policy, params).decide(PolicyInput(names, store.snapshot().demand, NOW))
    assert on.policy_reason == off.policy_reason == upstream.reason
    assert performance(on) == performance(off)
    assert on.target_performance == upstream.performance_nodes


# ---------------------------------------------------------------- room ahead of demand


def test_room_is_kept_for_a_pod_as_large_as_the_largest_recent_one():
    """Performance node a is full; a 16-core performance pod arrived a minute ago: the layer promotes the
    eco node with the most room so the next one lands at once. The policy alone would leave none."""
    nodes = [node("a", "performance", False), node("b", "eco", False), node("c", "eco", False)]
    pods = [
        created(pod("x", "a", "performance", cpu="16"), 60),
        pod("fill-a", "a", cpu="16"),
        pod("fill-b", "b", cpu="24"),  # b has 8 cores free, c has 32
    ]
    store = store_of(nodes, pods)
    off = plan(store, performance_wait_target_seconds=0)
    assert performance(off) == []  # the policy wants none; a drains
    on = plan(store, previous=plan(store, policy_params={"hp_frac": 0.34}, performance_wait_target_seconds=0))
    assert performance(on) == ["a", "c"]
    assert "room for a 16-core pod" in on.policy_reason
    assert "kept for the wait target" in on.decision("a").reason
    assert "promoted for the wait target" in on.decision("c").reason


def test_a_burst_gets_room_and_a_longer_target_keeps_less():
    """48 cores of performance pods arrived in the last 30 s (none before): room for the next two
    minutes of that, less what a long target lets the pods wait for."""
    nodes = [node(f"n{i}", "eco", False, cpu="64") for i in range(8)]
    burst = [created(pod(f"p{i}", "n0", "performance", cpu="4"), 30) for i in range(12)]
    store = store_of(nodes, burst)
    first = plan(store, policy_params={"hp_frac": 0.125}, performance_wait_target_seconds=0)
    assert performance(first) == ["n0"]  # it runs them
    short = plan(store, previous=first, performance_wait_target_seconds=10)
    long = plan(store, previous=first, performance_wait_target_seconds=3600)
    assert performance(short) == ["n0", "n1"] and performance(long) == ["n0"]
    assert "cores for a burst" in short.policy_reason
    assert "cores for a burst" not in long.policy_reason


def test_waiting_pods_use_room_on_performance_nodes_and_their_size_counts():
    """A waiting 16-core pod fits the 16 free cores of performance node a: no promotion, and the room it
    will take is not counted as headroom."""
    nodes = [node("a", "performance", False), node("b", "eco", False)]
    pods = [created(pod("run", "a", "performance", cpu="16"), 600), created(pod("w", None, "performance", cpu="16"), 5)]
    store = store_of(nodes, pods)
    p = plan(store, previous=plan(store, policy_params={"hp_frac": 0.5}))
    assert performance(p) == ["a", "b"]  # a holds w; b keeps room for the next 16-core pod
    assert "for 1 waiting performance pod" in p.policy_reason


def test_gpu_pods_are_sized_on_gpu_servers_and_gpu_servers_are_not_promoted_in_advance():
    nodes = [node("c1", "eco", False), gpu_node("g1", "performance"), gpu_node("g2", "eco")]
    pods = [created(gpu_pod("t", "g1", 8), 60), created(pod("cpu", "c1", "general", cpu="4"), 60)]
    store = store_of(nodes, pods)
    first = plan(store, policy_params={"hp_frac": 0.34})
    p = plan(store, previous=first)
    assert "g1" in performance(p)  # busy: its freed GPUs go to performance pods
    assert "g2" not in performance(p)  # no GPU headroom promotion: g2 stays capped


def test_a_waiting_gpu_pod_promotes_a_gpu_server_where_it_fits():
    """Feedback places pods where CPU and GPUs fit: a 4-GPU pod never promotes a CPU server."""
    nodes = [node("a-cpu", "eco", False, cpu="96"), gpu_node("g-full", "eco"), gpu_node("g-free", "eco")]
    pods = [gpu_pod("busy", "g-full", 6, cpu="8"), gpu_pod("w", None, 4, unschedulable=True)]
    # "busy" is a performance pod on an eco node: the guard keeps g-full draining, ranked first
    store = store_of(nodes, pods)
    p = plan(store, performance_wait_target_seconds=0)
    promoted = [d.name for d in p.nodes if d.hold is not None]
    assert promoted == ["g-free"]
    assert p.unmet_pods == 1


def test_promotions_by_the_policy_go_to_the_eco_node_with_the_most_room():
    nodes = [node("a", "eco", False), node("b", "eco", False), node("c", "eco", False)]
    pods = [pod("fill-a", "a", cpu="30"), pod("fill-b", "b", cpu="2"), pod("fill-c", "c", cpu="20")]
    p = plan(store_of(nodes, pods), policy_params={"hp_frac": 0.34}, performance_wait_target_seconds=0)
    assert performance(p) == ["b"]  # name order would have picked a, the fullest


def test_place_unmet_checks_cpu_and_gpus():
    pods = [PodInfo("u1", "d", "gpu", "performance", cpu_request_millis=8000, gpu_request=4)]
    pods.append(PodInfo("u2", "d", "cpu", "performance", cpu_request_millis=30000))
    candidates = [Candidate("cpu-node", 64000, 0), Candidate("gpu-small", 64000, 2), Candidate("gpu-big", 16000, 8)]
    placed = place_unmet(pods, candidates, pods_per_node=10)
    assert {n: [p.uid for p in ps] for n, ps in placed.items()} == {"gpu-big": ["u1"], "cpu-node": ["u2"]}
    assert place_unmet(pods[:1], [Candidate("unknown", None, None)], 10) == {"unknown": pods[:1]}


# ---------------------------------------------------------------- lazy downgrades


def _pool(*free: int, performance: int = 0) -> list[PoolNode]:
    return [PoolNode(f"n{i}", i < performance, 32000, f, 0, 0, 0) for i, f in enumerate(free)]


def _burst(millicores_in_two_minutes: float) -> Arrivals:
    rate = millicores_in_two_minutes / 120.0
    return Arrivals(ArrivalRate(0.0, 0.0, 16000), ArrivalRate(rate, 0.0, 16000))


def test_hysteresis_keeps_an_idle_node_a_fresh_promotion_would_not_need():
    """Room for a burst of 14 cores: one node with 16 free cores is enough to promote, but two idle
    performance nodes both stay until the room left without one exceeds the need by a quarter. So
    demand wobbling around a node's worth does not flip a node every tick."""
    target = WaitTarget(60.0)
    assert size_pool(_pool(16000, 16000, 0, performance=0), [], _burst(14000), target, NOW).nodes == {"n0"}
    kept = size_pool(_pool(16000, 16000, 0, performance=2), [], _burst(14000), target, NOW).nodes
    assert kept == {"n0", "n1"}
    for wobble in (13000, 15000, 13500):
        assert size_pool(_pool(16000, 16000, 0, performance=2), [], _burst(wobble), target, NOW).nodes == kept
    assert size_pool(_pool(16000, 16000, 0, performance=2), [], _burst(12000), target, NOW).nodes == {"n0"}
    no_hysteresis = WaitTarget(60.0, hysteresis=0.0)
    assert size_pool(_pool(16000, 16000, 0, performance=2), [], _burst(14000), no_hysteresis, NOW).nodes == {"n0"}


def test_busy_performance_nodes_stay_unless_draining_nodes_are_capped():
    pool = [PoolNode("busy", True, 32000, 0, 0, 0, 3), PoolNode("idle", True, 32000, 32000, 0, 0, 0)]
    quiet = Arrivals(ArrivalRate(), ArrivalRate())
    assert size_pool(pool, [], quiet, WaitTarget(60.0), NOW).nodes == {"busy"}
    assert size_pool(pool, [], quiet, WaitTarget(60.0, keep_busy=False), NOW).nodes == frozenset()
