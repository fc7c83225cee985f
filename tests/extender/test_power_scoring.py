"""Power-aware prioritize (extender.power) over real requests: the rule, its edge cases, and off = today."""

from __future__ import annotations

import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.power import PowerScores
from extender.service import ExtenderService
from extender.wire import parse_args
from joulie.core.facility import CurveReading, NodeFacility, Quantity, Reading
from joulie.core.power import ParametricModel, PowerCurve, marginal_watts, power_scores
from joulie.core.supply import band, node_supply, packed_score
from joulie.facility.collector import FacilityCollector
from joulie.facility.targets import FacilityNode, resolve
from tests.builders import node, pod
from tests.extender.conftest import client_of, full_body, names_body, runtime_of


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def cluster(n: int = 6, cpu: str = "32"):
    objs = [node(f"n{i}", "performance" if i % 2 == 0 else "eco", draining=False, cpu=cpu) for i in range(n)]
    return objs


def scores_of(client, p, names):
    r = client.post("/prioritize", content=names_body(p, names))
    assert r.status_code == 200
    return {h["Host"]: h["Score"] for h in r.json()}


def reference(rt, power: PowerScores, p: dict, names: list[str], assumed: dict[str, int] | None = None) -> list[int]:
    """The scores core.power_scores gives for the same inputs, computed one node at a time."""
    args = parse_args(names_body(p, names))
    store, plan = rt.store, rt.latest_plan()
    snap = store.snapshot()
    bands, incs = [], []
    for name in names:
        info = store.node(name)
        bands.append(band(args.pod.demand, node_supply(name, plan, info.labels if info else None, rt.selector)))
        if info is None:
            incs.append(None)
            continue
        starting = snap.cpu_starting_millis.get(name, 0)
        running = snap.cpu_requested_millis.get(name, 0) - starting
        measured = power.usage.cpu_usage_millis(name, power.clock()) if power.usage is not None else None
        if measured is not None:
            running = measured
        used = running + power.factor * (starting + (assumed or {}).get(name, 0))
        curve = power.curve(name, info, power.clock())
        incs.append(marginal_watts(curve, used, info.cpu_allocatable_millis, args.pod.cpu_millis, args.pod.gpus))
    return power_scores(bands, incs)


def test_off_keeps_the_packing_score_exactly():
    objs = [*cluster(), pod("a", "n0", cpu="8"), pod("b", "n1", cpu="20")]
    rt = runtime_of(objs)
    client = client_of(rt, service=ExtenderService(rt))
    got = scores_of(client, pod("x", demand="general", cpu="2"), [f"n{i}" for i in range(6)])
    plan = rt.latest_plan()
    for name, s in got.items():
        info = rt.store.node(name)
        b = band("general", node_supply(name, plan, info.labels, rt.selector))
        assert s == packed_score(b, rt.store.cpu_requested_on(name) + 2000, info.cpu_allocatable_millis)


def test_general_pod_goes_where_it_adds_the_fewest_watts_within_the_eco_band():
    # n1 idle (waking it costs the steep first 10 %), n3 at 25 %, n5 at 75 %: the middle of the curve is cheapest
    objs = [*cluster(), pod("a", "n3", cpu="8"), pod("b", "n5", cpu="24")]
    rt = runtime_of(objs)
    power = PowerScores()
    client = client_of(rt, service=ExtenderService(rt, power=power))
    names = [f"n{i}" for i in range(6)]
    p = pod("x", demand="general", cpu="4")
    got = scores_of(client, p, names)
    assert got["n3"] == 10  # smallest increase among the eco nodes
    assert got["n1"] < got["n3"]
    assert all(got[f"n{i}"] <= 3 for i in (0, 2, 4))  # performance nodes stay below every eco node
    assert list(got.values()) == reference(rt, power, p, names)


def test_bound_but_not_running_pods_count_at_the_assumption_factor():
    objs = [*cluster(4), pod("run", "n1", cpu="8"), pod("start", "n3", cpu="16", phase="Pending")]
    rt = runtime_of(objs)
    assert rt.store.cpu_starting_on("n3") == 16000
    power = PowerScores(assumption_factor=0.5)
    client = client_of(rt, service=ExtenderService(rt, power=power))
    p = pod("x", demand="general", cpu="4")
    got = scores_of(client, p, ["n1", "n3"])
    # 8 running cores and 16 starting cores at 0.5 are the same load: the same score
    assert got["n1"] == got["n3"]
    full = PowerScores(assumption_factor=1.0)
    got_full = scores_of(client_of(rt, service=ExtenderService(rt, power=full)), p, ["n1", "n3"])
    assert got_full["n1"] != got_full["n3"]


def test_an_overcommitted_node_gets_the_bottom_of_its_band():
    objs = [*cluster(4), pod("big", "n1", cpu="31")]
    rt = runtime_of(objs)
    client = client_of(rt, service=ExtenderService(rt, power=PowerScores()))
    got = scores_of(client, pod("x", demand="general", cpu="4"), ["n1", "n3"])
    assert got == {"n1": 7, "n3": 10}


class StaticReadings:
    """Facility readings as the collectors publish them (joulie.core.facility.FacilityReadings), fixed by the test."""

    def __init__(self, nodes: dict[str, NodeFacility]) -> None:
        self._nodes = nodes
        self.version = 1

    def node(self, name):
        return self._nodes.get(name)

    def nodes(self):
        return dict(self._nodes)

    def inlet_temperature(self, node, now):
        r = self._nodes[node].inlet_temp if node in self._nodes else None
        return r if r is not None and r.fresh(now) else None


def test_a_prediction_made_from_a_stale_inlet_temperature_scores_neutral_never_best():
    clock = Clock()
    t0 = clock.t
    inlet = Reading(24.0, t0, t0 + 30, "test")
    # n1: a V2-style curve predicted from the inlet temperature (flat: adds no watts at all)
    curve = CurveReading(PowerCurve((150.0,) * 11), t0, t0 + 60, "v2:test", (Quantity.INLET_TEMP,))
    readings = StaticReadings({"n1": NodeFacility(inlet_temp=inlet, power=curve)})
    rt = runtime_of([*cluster(4), pod("a", "n3", cpu="24")])
    client = client_of(rt, service=ExtenderService(rt, power=PowerScores(readings, clock=clock)))
    fresh = scores_of(client, pod("x", demand="general", cpu="4"), ["n1", "n3"])
    assert fresh == {"n1": 10, "n3": 7}  # the flat curve adds nothing: n1 is the cheapest while fresh
    clock.t = t0 + 31  # the inlet temperature turned stale; the curve alone is still within its TTL
    stale = scores_of(client, pod("y", demand="general", cpu="4"), ["n1", "n3"])
    assert stale == {"n1": 8, "n3": 10}  # neutral (middle of the band), the node with data is best
    clock.t = t0 + 61
    readings._nodes["n1"] = NodeFacility(inlet_temp=Reading(24.0, clock.t, clock.t + 30, "test"), power=curve)
    readings.version += 1
    assert scores_of(client, pod("z", demand="general", cpu="4"), ["n1", "n3"])["n1"] == 8  # curve itself stale


def test_a_configured_node_never_read_is_neutral_even_if_alone():
    clock = Clock()
    collector = FacilityCollector(clock=clock, monotonic=clock)
    spec = {"nodeName": "n1", "metricsCollector": {"inletTemp": {"type": "Redfish", "endpoint": "http://127.0.0.1:9"}}}
    collector.set_targets(resolve({"t": spec}, [FacilityNode("n1")]))  # nothing fetched yet
    rt = runtime_of(cluster(2))
    client = client_of(rt, service=ExtenderService(rt, power=PowerScores(collector, clock=clock)))
    assert scores_of(client, pod("x", demand="general", cpu="4"), ["n1"]) == {"n1": 8}


def test_prioritize_remembers_the_pod_on_the_lowest_watt_node():
    rt = runtime_of([*cluster(4), pod("a", "n3", cpu="8")])
    svc = ExtenderService(rt, power=PowerScores())
    client = client_of(rt, service=svc)
    waiting = pod("x", demand="general", cpu="4")
    rt.store.upsert_pod(waiting)  # only pods the cluster shows pending are remembered
    scores_of(client, waiting, ["n1", "n3"])
    assert svc.assumed.get("uid-default-x").node == "n3"


def test_unknown_nodes_and_full_mode_get_the_same_rule():
    objs = [*cluster(4), pod("a", "n3", cpu="8")]
    rt = runtime_of(objs)
    power = PowerScores()
    client = client_of(rt, service=ExtenderService(rt, power=power))
    p = pod("x", demand="general", cpu="4")
    names = ["n1", "ghost", "n3"]
    got = scores_of(client, p, names)
    assert got["ghost"] == 5  # unknown node: unmanaged band (4..6), neutral
    full = client.post("/prioritize", content=full_body(p, [o for o in objs if o["kind"] == "Node"]))
    assert [h["Score"] for h in full.json()] == reference(rt, power, p, [f"n{i}" for i in range(4)])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 25),
    pod_cpu=st.integers(0, 40_000),
    factor=st.sampled_from([0.0, 0.5, 1.0]),
    demand=st.sampled_from(["general", "performance", "eco"]),
)
def test_the_vectorised_scores_equal_the_reference_rule(seed, n, pod_cpu, factor, demand):
    rng = random.Random(seed)
    objs = []
    for i in range(n):
        prof = rng.choice(["performance", "eco", None])
        objs.append(
            node(
                f"n{i}",
                prof,
                draining=rng.random() < 0.2 if prof == "eco" else None,
                cpu=str(rng.choice([0, 4, 32, 80])),
            )
        )
        for k in range(rng.randint(0, 3)):
            objs.append(
                pod(f"p{i}-{k}", f"n{i}", cpu=f"{rng.randint(0, 30_000)}m", phase=rng.choice(["Running", "Pending"]))
            )
    rt = runtime_of(objs)
    curve = tuple(sorted(rng.uniform(50, 900) for _ in range(11)))
    power = PowerScores(None, ParametricModel(curve), factor)
    svc = ExtenderService(rt, power=power)
    p = pod("x", demand=demand, cpu=f"{pod_cpu}m")
    names = [f"n{i}" for i in rng.sample(range(n), rng.randint(1, n))] + (["ghost"] if rng.random() < 0.3 else [])
    assumed = {}
    if rng.random() < 0.5:
        target = rng.choice(names)
        svc.assumed.assume("other-pod", target, rng.randint(1, 8000))
        if rt.store.node(target) is not None:
            assumed = {target: svc.assumed.get("other-pod").cpu_millis}
    body = svc.prioritize(parse_args(names_body(p, names)))
    got = [h["Score"] for h in orjson.loads(body)]
    assert got == reference(rt, power, p, names, assumed)
    assert all(isinstance(s, int) and 0 <= s <= 10 for s in got)


def test_scores_are_deterministic_across_services():
    objs = [*cluster(6), pod("a", "n3", cpu="8"), pod("b", "n5", cpu="3")]
    p = pod("x", demand="general", cpu="4")
    names = [f"n{i}" for i in range(6)]
    results = {
        tuple(scores_of(client_of(rt, service=ExtenderService(rt, power=PowerScores())), p, names).items())
        for rt in (runtime_of(objs), runtime_of(objs))
    }
    assert len(results) == 1


def test_scores_follow_the_store_when_pods_are_bound_between_requests():
    """The static rows are reused across cluster states; the CPU in use must not be."""
    from joulie.core.model import PodInfo

    rt = runtime_of(cluster(6))
    power = PowerScores()
    svc = ExtenderService(rt, power=power)
    names = [f"n{i}" for i in range(6)]
    for k in range(8):
        p = pod(f"x{k}", demand="general", cpu="6")
        got = [h["Score"] for h in orjson.loads(svc.prioritize(parse_args(names_body(p, names))))]
        svc.assumed = type(svc.assumed)()  # judge each state alone (assumed pods are tested above)
        assert got == reference(rt, power, p, names)
        rt.store.put_pod(
            PodInfo(
                uid=f"b{k}",
                namespace="default",
                name=f"b{k}",
                demand="general",
                node_name=f"n{k % 3 * 2 + 1}",
                phase="Running" if k % 2 else "Pending",
                cpu_request_millis=6000,
            )
        )


class StaticUsage:
    """Measured usage as the metrics-server poller publishes it (joulie.core.facility.UsageReadings)."""

    def __init__(self, millis: dict[str, float], stale: set[str] = frozenset()) -> None:
        self.millis, self.stale = millis, stale
        self.version = 1

    def cpu_usage_millis(self, node, now):
        return None if node in self.stale else self.millis.get(node)


def test_measured_usage_replaces_running_requests_where_fresh():
    # n1 and n3 both request 8 cores; n1 really uses 30, n3's sample is stale (falls back to its requests)
    objs = [*cluster(4), pod("a", "n1", cpu="8"), pod("b", "n3", cpu="8"), pod("s", "n3", cpu="4", phase="Pending")]
    rt = runtime_of(objs)
    usage = StaticUsage({"n1": 30_000.0, "n3": 1_000.0}, stale={"n3"})
    power = PowerScores(usage=usage)
    svc = ExtenderService(rt, power=power)
    p = pod("x", demand="general", cpu="2")
    names = ["n1", "n3"]
    got = [h["Score"] for h in orjson.loads(svc.prioritize(parse_args(names_body(p, names))))]
    assert got == reference(rt, power, p, names)
    without = PowerScores()
    assert got != [
        h["Score"]
        for h in orjson.loads(ExtenderService(rt, power=without).prioritize(parse_args(names_body(p, names))))
    ]
