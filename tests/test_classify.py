"""Demand classification truth table (CONTRACT §1)."""

from __future__ import annotations

import logging

import pytest

from joulie.core.classify import classify_pod, classify_spec
from tests.builders import KEY, affinity

PERF, ECO, GEN = "performance", "eco", "general"


@pytest.mark.parametrize(
    "operator, values, expected",
    [
        ("In", ["performance"], PERF),
        ("In", ["performance", "other"], PERF),
        ("In", ["eco"], ECO),
        ("In", ["eco", "eco"], ECO),
        ("In", ["eco", "performance"], GEN),
        ("In", [], GEN),
        ("NotIn", ["eco"], PERF),
        ("NotIn", ["eco", "other"], PERF),
        ("NotIn", ["performance"], GEN),
        ("Exists", None, GEN),
        ("DoesNotExist", None, GEN),
        ("Gt", ["1"], GEN),
        ("Lt", ["1"], GEN),
    ],
)
def test_single_required_expression(operator, values, expected):
    assert classify_spec({"affinity": affinity([(KEY, operator, values)])}) == expected


@pytest.mark.parametrize(
    "selector, expected",
    [({KEY: "performance"}, PERF), ({KEY: "eco"}, ECO), ({KEY: "turbo"}, GEN), ({"other": "performance"}, GEN)],
)
def test_node_selector(selector, expected):
    assert classify_spec({"nodeSelector": selector}) == expected


def test_or_terms_are_classed_by_what_every_term_allows():
    """(In [performance]) OR (In [eco]) may run on eco nodes: it is not performance demand."""
    both = {"affinity": affinity([(KEY, "In", ["performance"])], [(KEY, "In", ["eco"])])}
    assert classify_spec(both) == GEN
    anywhere_in_zone_a = {"affinity": affinity([("zone", "In", ["a"])], [(KEY, "NotIn", ["eco"])])}
    assert classify_spec(anywhere_in_zone_a) == GEN
    every_term_performance = {
        "affinity": affinity(
            [("zone", "In", ["a"]), (KEY, "NotIn", ["eco"])], [("zone", "In", ["b"]), (KEY, "In", ["performance"])]
        )
    }
    assert classify_spec(every_term_performance) == PERF
    every_term_eco = {"affinity": affinity([(KEY, "In", ["eco"])], [(KEY, "In", ["eco"]), ("zone", "In", ["b"])])}
    assert classify_spec(every_term_eco) == ECO


def test_expression_on_other_key_ignored():
    assert classify_spec({"affinity": affinity([("joulie.io/draining", "NotIn", ["true"])])}) == GEN


def test_eco_term_with_draining_guard_is_eco():
    spec = {"affinity": affinity([(KEY, "In", ["eco"]), ("joulie.io/draining", "NotIn", ["true"])])}
    assert classify_spec(spec) == ECO


def test_node_selector_eco_plus_affinity_performance_is_performance():
    spec = {"nodeSelector": {KEY: "eco"}, "affinity": affinity([(KEY, "In", ["performance"])])}
    assert classify_spec(spec) == PERF


def test_node_selector_plus_unrelated_affinity():
    spec = {"nodeSelector": {KEY: "eco"}, "affinity": affinity([("zone", "In", ["a"])])}
    assert classify_spec(spec) == ECO


def test_preferred_affinity_is_general():
    spec = {
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "preference": {"matchExpressions": [{"key": KEY, "operator": "In", "values": ["performance"]}]},
                    }
                ]
            }
        }
    }
    assert classify_spec(spec) == GEN


def test_unknown_operator_is_general_with_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert classify_spec({"affinity": affinity([(KEY, "Near", ["performance"])])}) == GEN
    assert "unknown node-affinity operator 'Near'" in caplog.text


@pytest.mark.parametrize(
    "pod",
    [
        {},
        {"spec": None},
        {"spec": {"affinity": "weird"}},
        {
            "spec": {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                None,
                                3,
                                {"matchExpressions": "x"},
                                {"matchExpressions": [None, {"key": KEY}]},
                            ]
                        }
                    }
                }
            }
        },
        {"spec": {"nodeSelector": ["not", "a", "map"]}},
    ],
)
def test_malformed_pods_are_general(pod):
    assert classify_pod(pod) == GEN


def test_a_pod_asking_for_the_performance_pod_profile_is_performance_demand_for_the_labeller_too():
    from joulie.core.store import ClusterStore
    from tests.builders import pod

    p = pod("wants-cores", demand="general", cpu="4")
    p["spec"]["containers"][0]["resources"]["limits"] = {"cpu": "4", "power.joulie.io/performance": "4"}
    p["spec"]["containers"][0]["resources"]["requests"]["power.joulie.io/performance"] = "4"
    store = ClusterStore()
    store.replace_pods([p])
    snap = store.snapshot()
    assert snap.demand.performance == 1 and snap.demand.performance_pending == 1
    balanced = pod("balanced", demand="eco", cpu="4")
    balanced["spec"]["containers"][0]["resources"]["limits"] = {"power.joulie.io/balance-power": "4"}
    assert classify_pod(balanced) == "eco"  # other pod profiles run under the eco cap
