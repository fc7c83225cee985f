"""Per-profile CPU control templates: flags, the draining rule, the NodePowerProfile spec, the plan table."""

from __future__ import annotations

import argparse

import pytest

from joulie.cliutil import ConfigError
from joulie.core.guard import NodeState
from labeller.config import PlannerConfig
from labeller.desired import desired_spec, desired_spec_wire, spec_differs
from labeller.planner import Planner
from labeller.render import plan_table
from labeller.templates import (
    DEFAULT_ECO_CONTROLS,
    ControlTemplates,
    CpuControls,
    add_control_flags,
    control_templates,
)
from tests.builders import node, pod
from tests.test_planner import make_store


def templates(*argv: str) -> ControlTemplates:
    p = argparse.ArgumentParser()
    add_control_flags(p)
    return control_templates(p.parse_args(list(argv)))


def test_defaults_performance_untouched_eco_safe_everywhere():
    t = templates()
    assert t.performance.to_api() == {}
    assert t.eco.to_api() == {"epp": "balance_power", "uncore": {"minPct": 0.0}}


def test_named_flags_merge_onto_the_json_template_and_none_clears():
    t = templates(
        "--eco-cpu-controls",
        '{"governor": "powersave", "frequency": {"minPct": 10}, "cstates": {"maxLatencyUs": 50}}',
        "--eco-max-freq-pct",
        "70",
        "--eco-cstates",
        "C6=true, C1E=off",
        "--eco-epp",
        "power",
        "--performance-governor",
        "performance",
        "--performance-epp",
        "0",
    )
    assert t.eco.to_api() == {
        "governor": "powersave",
        "epp": "power",
        "frequency": {"minPct": 10.0, "maxPct": 70.0},
        "cstates": {"names": {"C6": True, "C1E": False}, "maxLatencyUs": 50},
    }
    assert t.performance.to_api() == {"governor": "performance", "epp": 0}
    assert templates("--eco-epp", "none", "--eco-uncore-max-pct", "60").eco.to_api() == {
        "uncore": {"minPct": 0.0, "maxPct": 60.0}
    }
    assert templates("--eco-cpu-controls", "{}").eco.empty


def test_env_vars_are_read(monkeypatch):
    monkeypatch.setenv("JOULIE_ECO_GOVERNOR", "schedutil")
    monkeypatch.setenv("JOULIE_PERFORMANCE_CSTATE_MAX_LATENCY_US", "10")
    t = templates()
    assert t.eco.governor == "schedutil"
    assert t.performance.to_api() == {"cstates": {"maxLatencyUs": 10}}


@pytest.mark.parametrize(
    "argv,message",
    [
        (("--eco-cstates", "C6"), "is not NAME=true|false"),
        (("--eco-max-freq-pct", "lots"), "is not a number"),
        (("--eco-max-freq-pct", "140"), "less than or equal to 100"),
        (("--eco-epp", "300"), "epp must be in 0-255"),
        (("--eco-cpu-controls", "[1]"), "must be a JSON object"),
        (("--eco-cpu-controls", '{"governer": "x"}'), "invalid eco CPU controls"),
        (("--eco-cpu-controls", '{"frequency": {"minMHz": 3000, "maxMHz": 1000}}'), "above maxMHz"),
    ],
)
def test_bad_templates_are_clear_errors(argv, message):
    with pytest.raises(ConfigError, match=message):
        templates(*argv)


ECO_T = CpuControls(governor="powersave", epp="power")
PERF_T = CpuControls(epp="performance")


@pytest.mark.parametrize("draining_caps,expected", [("performance", PERF_T), ("eco", ECO_T)])
def test_a_draining_node_keeps_the_performance_controls_while_it_keeps_performance_caps(draining_caps, expected):
    config = PlannerConfig(
        policy="static_partition",
        policy_params={"hp_frac": 0.0},
        draining_caps=draining_caps,
        cpu_controls=ControlTemplates(performance=PERF_T, eco=ECO_T),
        performance_wait_target_seconds=0,  # the wait target would keep a busy performance node; drain it here
    )
    store = make_store([node("a", "performance", False), node("b")], [pod("p", "a", "performance")])
    plan = Planner(config).plan(store.snapshot(), 1000.0)
    a, b = plan.decision("a"), plan.decision("b")
    assert a.state is NodeState.DRAINING_PERFORMANCE and a.controls == expected
    assert b.state is NodeState.ACTIVE_ECO and b.controls == ECO_T
    spec = desired_spec(a, "static_partition").to_api()
    assert spec["cpu"] == {
        "packagePowerCapWatts": 5000.0 if draining_caps == "performance" else 120.0,
        **expected.to_api(),
    }
    assert desired_spec_wire(a, "static_partition") == {
        "nodeName": "a",
        **{k: v for k, v in spec.items() if k != "nodeName"},
    }


def test_a_changed_template_rewrites_the_profile_and_a_steady_one_does_not():
    store = make_store([node("a"), node("b")])
    old = Planner(PlannerConfig(policy="static_partition", policy_params={"hp_frac": 0.0})).plan(store.snapshot(), 1.0)
    observed = desired_spec_wire(old.decision("a"), "static_partition")
    assert observed["cpu"] == {"packagePowerCapWatts": 120.0, **DEFAULT_ECO_CONTROLS.to_api()}
    assert not spec_differs(observed, old.decision("a"), "static_partition")
    new_config = PlannerConfig(
        policy="static_partition",
        policy_params={"hp_frac": 0.0},
        cpu_controls=ControlTemplates(eco=CpuControls(governor="powersave")),
    )
    new = Planner(new_config).plan(store.snapshot(), 1.0)
    assert spec_differs(observed, new.decision("a"), "static_partition")


def test_plan_table_shows_the_controls_each_node_gets():
    store = make_store([node("a"), node("b")], [pod("p", "a", "performance")])
    plan = Planner(PlannerConfig(policy="static_partition")).plan(store.snapshot(), 1.0)
    lines = plan_table(plan).splitlines()
    header = next(line for line in lines if line.startswith("NODE"))
    assert "CONTROLS" in header
    row_b = next(line for line in lines if line.startswith("b "))
    assert "epp=balance_power uncore=0- %" in row_b
    row_a = next(line for line in lines if line.startswith("a "))
    assert " - " in row_a
