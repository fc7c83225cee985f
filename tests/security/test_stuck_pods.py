"""One stuck pod must not ratchet the fleet to performance (issue item 2)."""

from __future__ import annotations

import pytest

from joulie.core.store import ClusterStore
from labeller.config import PlannerConfig
from labeller.memory import InMemoryCluster
from labeller.planner import Planner
from labeller.profiles import ProfileCache
from labeller.reconciler import Reconciler
from tests.builders import KEY, affinity, node, pod


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def run_ticks(waiting: dict, nodes: list[dict], ticks: int = 10) -> list[int]:
    """Performance nodes after each 30 s tick, the pod pending and marked Unschedulable throughout."""
    store, profiles, clock = ClusterStore(), ProfileCache(), Clock()
    store.replace_nodes(nodes)
    store.replace_pods([waiting])
    config = PlannerConfig(policy="static_partition", policy_params={"hp_frac": 0.0})
    rec = Reconciler(store, profiles, Planner(config), InMemoryCluster(store, profiles), clock=clock)
    counts = []
    for _ in range(ticks):
        rec.reconcile("tick")
        counts.append(rec.latest_plan.performance_count)
        clock.t += 30
    return counts


def stuck(**kw) -> dict:
    p = pod("stuck", demand="performance", unschedulable=True, **{k: v for k, v in kw.items() if k == "cpu"})
    return p


NODES = [node(f"n{i:02d}", "eco", cpu="32") for i in range(10)]


def test_a_typo_in_the_affinity_promotes_nothing():
    p = stuck()
    p["spec"]["affinity"] = affinity([(KEY, "In", ["perfromance"])])  # classified performance, fits no label
    assert run_ticks(p, NODES) == [0] * 10


def test_a_request_no_node_can_hold_promotes_nothing():
    p = stuck()
    p["spec"]["containers"][0]["resources"]["requests"]["memory"] = "64Ti"
    assert run_ticks(p, NODES) == [0] * 10


def test_gpus_on_a_cpu_only_fleet_promote_nothing():
    p = stuck()
    p["spec"]["containers"][0]["resources"]["limits"] = {"nvidia.com/gpu": "1"}
    assert run_ticks(p, NODES) == [0] * 10


def test_an_untolerated_taint_promotes_nothing_and_a_tolerated_one_does():
    tainted = [
        dict(n, spec={"taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]}) for n in NODES
    ]
    assert run_ticks(stuck(), tainted) == [0] * 10
    tolerant = stuck()
    tolerant["spec"]["tolerations"] = [
        {"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}
    ]
    assert run_ticks(tolerant, tainted)[0] == 1


def test_an_extended_resource_nobody_offers_promotes_nothing():
    p = stuck()
    p["spec"]["containers"][0]["resources"]["limits"] = {"example.com/fpga": "1"}
    assert run_ticks(p, NODES) == [0] * 10


@pytest.mark.parametrize("ticks", [10])
def test_a_pod_that_still_cannot_land_costs_one_node_not_the_fleet(ticks):
    """Promotable, yet it never lands (the scheduler keeps it pending): one node, held, then released."""
    counts = run_ticks(stuck(), NODES, ticks)
    assert max(counts) == 1, counts
    assert counts[0] == 1 and counts[-1] == 0  # the hold (120 s) ends; the pod never promotes a second node
