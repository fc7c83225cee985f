"""The performance pod power profile and the extender: refused on eco nodes unless the node is performance,
scored as a performance pod, and explained per node in /plan."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml

from joulie.core.classify import filter_demand, requested_pod_profiles
from joulie.core.supply import Supply, pod_profile_rule
from tests.builders import node, pod
from tests.extender.conftest import client_of, names_body, runtime_of
from tests.extender.godecode import scheduler_filter, scheduler_prioritize
from tests.extender.test_decisions import NAMES, cluster

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "samples" / "pod-power-profile.yaml"


def with_profile(p: dict, profile: str, n: int = 2) -> dict:
    res = p["spec"]["containers"][0]["resources"]
    res.setdefault("limits", {})[f"power.joulie.io/{profile}"] = str(n)
    res["requests"][f"power.joulie.io/{profile}"] = str(n)
    return p


def test_a_performance_pod_profile_is_refused_by_eco_and_draining_nodes():
    client = client_of(cluster())
    body = names_body(with_profile(pod("p"), "performance"), NAMES)  # a general pod otherwise
    r = client.post("/scheduler/filter", content=body)
    got = scheduler_filter(True, NAMES, r.status_code, r.content)
    assert got.feasible == ["perf", "plain", "ghost"]
    assert set(got.unresolvable) == {"drain", "eco"} and got.failed == {}
    assert "power.joulie.io/performance pod profile" in got.unresolvable["eco"]
    r = client.post("/scheduler/prioritize", content=body)
    scores = scheduler_prioritize(r.status_code, r.content)
    assert scores["perf"] > scores["eco"], "scored as a performance pod"


def test_other_pod_profiles_keep_the_pods_class():
    client = client_of(cluster())
    for profile in ("balance-performance", "balance-power", "power"):
        r = client.post("/scheduler/filter", content=names_body(with_profile(pod("p"), profile), NAMES))
        assert scheduler_filter(True, NAMES, r.status_code, r.content).feasible == NAMES
    r = client.post("/scheduler/filter", content=names_body(with_profile(pod("p", demand="eco"), "power"), NAMES))
    assert scheduler_filter(True, NAMES, r.status_code, r.content).unresolvable.keys() == {"perf"}


def test_an_eco_pod_asking_for_the_performance_profile_fits_nowhere_managed():
    r = client_of(cluster()).post(
        "/scheduler/filter", content=names_body(with_profile(pod("p", demand="eco"), "performance"), NAMES)
    )
    got = scheduler_filter(True, NAMES, r.status_code, r.content)
    assert got.feasible == ["perf", "plain", "ghost"], "performance wins, as in classification"


def test_the_rule_is_pure_and_reads_every_container():
    sample = yaml.safe_load(SAMPLE.read_text())
    assert requested_pod_profiles(sample["spec"]) == {"performance"}
    assert filter_demand("general", frozenset({"performance"})) == "performance"
    assert filter_demand("eco", frozenset({"power"})) == "eco"
    side = {"initContainers": [{"name": "s", "resources": {"limits": {"power.joulie.io/power": "1"}}}]}
    assert requested_pod_profiles(side) == {"power"}
    assert requested_pod_profiles({"containers": [{"name": "c", "resources": {"limits": {"cpu": "2"}}}]}) == set()
    assert "refuses pods asking for power.joulie.io/performance" in pod_profile_rule(Supply("eco", False, "plan"))
    assert "accepts" in pod_profile_rule(Supply("performance", False, "plan"))


def test_plan_explains_the_rule_per_node():
    client = client_of(runtime_of([node("perf", "performance"), node("eco", "eco")], hp_frac=0.5))
    body = orjson.loads(client.get("/plan").content)
    rules = {n["name"]: n["podProfiles"] for n in body["nodes"]}
    assert rules["perf"].startswith("performance node: accepts pods asking for power.joulie.io/performance")
    assert rules["eco"].startswith("eco (package power-capped): refuses pods asking for power.joulie.io/performance")
    one = orjson.loads(client.get("/plan?node=eco").content)
    assert [n["podProfiles"] for n in one["nodes"]] == [rules["eco"]]
