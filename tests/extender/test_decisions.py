"""Filter and prioritize as the scheduler experiences them: which nodes pass, why not, which win."""

from __future__ import annotations

from fractions import Fraction

import orjson

from joulie.core.rounding import round_half_away
from joulie.core.supply import Supply, band, score
from tests.builders import node, pod
from tests.extender.conftest import client_of, full_body, names_body, runtime_of
from tests.extender.godecode import scheduler_filter, scheduler_prioritize

NAMES = ["perf", "drain", "eco", "plain", "ghost"]


def cluster():
    """perf: performance; drain: eco still running a performance pod; eco: eco; plain: not managed."""
    return runtime_of(
        [
            node("perf", "performance"),
            node("drain", "eco"),
            node("eco", "eco"),
            node("plain", managed=False),
            pod("running-perf", "drain", "performance"),
        ],
        hp_frac=0.34,
    )


def filter_(client, demand, names=NAMES, cpu="1"):
    r = client.post("/scheduler/filter", content=names_body(pod("p", demand=demand, cpu=cpu), names))
    got = scheduler_filter(True, names, r.status_code, r.content)
    assert got.error is None, got.error
    return got


def test_plan_is_what_the_tests_assume():
    rt = cluster()
    by = {d.name: d for d in rt.latest_plan().nodes}
    assert (by["perf"].profile, by["drain"].draining, by["eco"].profile) == ("performance", True, "eco")


def test_performance_pod_keeps_performance_unmanaged_and_unknown_nodes():
    got = filter_(client_of(cluster()), "performance")
    assert got.feasible == ["perf", "plain", "ghost"]
    assert got.failed == {}  # rejections are unresolvable: preemption cannot change a power profile
    assert set(got.unresolvable) == {"drain", "eco"}
    assert "draining" in got.unresolvable["drain"] and "performance node" in got.unresolvable["drain"]
    assert "eco (power-capped)" in got.unresolvable["eco"]
    assert all(reason.startswith("joulie: node is planned") for reason in got.unresolvable.values())


def test_eco_pod_is_kept_off_performance_nodes_only():
    got = filter_(client_of(cluster()), "eco")
    assert got.feasible == ["drain", "eco", "plain", "ghost"]
    assert list(got.unresolvable) == ["perf"] and "eco pods run on eco nodes" in got.unresolvable["perf"]


def test_general_pod_passes_everywhere():
    got = filter_(client_of(cluster()), "general")
    assert got.feasible == NAMES and got.unresolvable == {}


def test_full_mode_returns_the_scheduler_its_own_node_objects():
    nodes = [node("perf", "performance"), node("eco", "eco"), node("plain", managed=False)]
    nodes[0]["status"]["images"] = [{"names": ["x"], "sizeBytes": 1}]
    client = client_of(cluster())
    r = client.post("/filter", content=full_body(pod("p", demand="performance"), nodes))
    got = scheduler_filter(False, ["perf", "eco", "plain"], r.status_code, r.content)
    assert got.feasible == ["perf", "plain"]
    assert orjson.loads(r.content)["Nodes"]["items"] == [nodes[0], nodes[2]]


def test_the_fresh_plan_wins_over_stale_labels():
    # The scheduler still sees "eco" on the node, the plan already promoted it.
    rt = runtime_of([node("a", "eco"), node("b", "eco")], hp_frac=0.5)
    assert rt.latest_plan().decision("a").profile == "performance"
    stale = [node("a", "eco"), node("b", "eco")]
    r = client_of(rt).post("/filter", content=full_body(pod("p", demand="performance"), stale))
    got = scheduler_filter(False, ["a", "b"], r.status_code, r.content)
    assert got.feasible == ["a"] and "planned eco" in got.unresolvable["b"]


def test_nodes_new_since_the_plan_are_judged_by_their_labels():
    rt = cluster()
    newcomer = node("new", "eco")  # matches the selector, not in the plan yet
    r = client_of(rt).post("/filter", content=full_body(pod("p", demand="performance"), [newcomer]))
    got = scheduler_filter(False, ["new"], r.status_code, r.content)
    assert got.feasible == [] and got.unresolvable["new"].startswith("joulie: node is labelled eco")


def scores(client, demand, names=NAMES, cpu="1", uid=None, pending=True):
    """Prioritize for a pod; ``pending``: the pod exists in the cluster, as the scheduler's pods do."""
    p = pod(uid or "p", demand=demand, cpu=cpu)
    if pending:
        client.app.state.runtime.store.upsert_pod(p)
    r = client.post("/prioritize", content=names_body(p, names))
    got = scheduler_prioritize(r.status_code, r.content)
    assert got is not None and all(isinstance(s, int) and 0 <= s <= 10 for s in got.values())
    return got


def test_general_pods_prefer_eco_nodes_that_are_not_draining():
    s = scores(client_of(cluster()), "general")
    assert s["eco"] > s["plain"] > s["perf"]
    assert s["eco"] > s["plain"] > s["drain"]
    assert s["ghost"] == 4  # unknown: neutral middle band


def test_performance_and_eco_pods_prefer_their_own_supply():
    client = client_of(cluster())
    s = scores(client, "performance")
    assert s["perf"] > s["plain"] > s["eco"]
    s = scores(client, "eco", uid="q")
    assert min(s["eco"], s["drain"]) > s["plain"] > s["perf"]


def test_among_equals_the_fuller_node_wins():
    rt = runtime_of(
        [
            node("e1", "eco"),
            node("e2", "eco"),
            node("p1", "performance"),
            node("p2", "performance"),
            pod("busy", "e2", cpu="16"),
        ],
        hp_frac=0.5,
    )
    s = scores(client_of(rt), "general", names=["e1", "e2"])
    assert s["e2"] > s["e1"]


def test_a_burst_fills_a_node_then_moves_on():
    rt = runtime_of(
        [
            node("e1", "eco", cpu="4"),
            node("e2", "eco", cpu="4"),
            node("p1", "performance", cpu="4"),
            node("p2", "performance", cpu="4"),
        ],
        hp_frac=0.5,
    )
    client = client_of(rt)
    placed = []
    for i in range(4):
        s = scores(client, "general", names=["e1", "e2"], cpu="2", uid=f"burst-{i}")
        placed.append(max(s, key=s.get))
    # two 2-CPU pods fill e1 (packing), the third would overfill it and goes to e2
    assert placed == ["e1", "e1", "e2", "e2"]


def test_an_assumed_pod_stops_counting_once_the_store_sees_it_bound():
    rt = runtime_of(
        [
            node("e1", "eco", cpu="4"),
            node("e2", "eco", cpu="4"),
            node("p1", "performance", cpu="4"),
            node("p2", "performance", cpu="4"),
        ],
        hp_frac=0.5,
    )
    client = client_of(rt)
    service = client.app.state.service
    scores(client, "general", names=["e1", "e2"], cpu="2", uid="x")
    assert service.assumed.get("uid-default-x").node == "e1"
    rt.store.upsert_pod(pod("x", "e1", cpu="2"))  # the watch delivers the binding
    s = scores(client, "general", names=["e1", "e2"], cpu="2", uid="y")
    assert service.assumed.get("uid-default-x") is None
    assert s["e1"] == 10  # 2 bound + 2 for this pod on 4 CPUs: counted once, exactly full


def test_score_is_the_documented_formula():
    """score = base + round_half_away(span * fill), no packing points when over full or allocatable unknown."""
    for tier_supply in (Supply("eco", False, "plan"), Supply("performance", False, "plan"), None):
        for demand in ("general", "performance", "eco"):
            base, span = band(demand, tier_supply)
            for used in range(0, 5000, 37):
                for alloc in (0, 1000, 4000):
                    if alloc == 0 or used > alloc:
                        want = base
                    else:
                        want = base + round_half_away(float(span * Fraction(used, alloc)))
                    assert score(demand, tier_supply, used, alloc) == want
                    assert 0 <= want <= 10


def test_a_repeated_candidate_list_still_sees_label_changes_outside_the_plan():
    rt = cluster()
    client = client_of(rt)
    names = ["perf", "late"]
    rt.store.upsert_node(node("late", "eco"))  # arrived after the last plan
    assert filter_(client, "performance", names).feasible == ["perf"]
    rt.store.upsert_node(node("late", "performance"))  # relabelled; still no new plan
    assert filter_(client, "performance", names).feasible == ["perf", "late"]


def test_pods_the_cluster_does_not_show_pending_are_not_assumed():
    """20k forged prioritize calls used to fill the assumed-pods table and push real pods off their node."""
    rt = runtime_of([node("e1", "eco", cpu="4"), node("e2", "eco", cpu="4")], hp_frac=0.0)
    client = client_of(rt)
    service = client.app.state.service
    for i in range(200):
        scores(client, "general", names=["e1", "e2"], cpu="2", uid=f"forged-{i}", pending=False)
    assert len(service.assumed) == 0
    s = scores(client, "general", names=["e1", "e2"], cpu="2", uid="real")
    assert s == {"e1": 9, "e2": 9}  # nothing forged counts on e1 or e2
    assert len(service.assumed) == 1
