"""Small correctness items from the hardening pass (item 14)."""

from __future__ import annotations

from joulie.cli import main
from joulie.core.classify import classify_spec
from labeller.policies import DemandSummary, PolicyInput, build_policy
from tests.builders import KEY, affinity, node
from tests.extender.conftest import client_of, runtime_of


def test_mix_errors_name_the_mix_flag(capsys):
    assert main(["simulate", "--mix", "bogus", "--no-progress", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "--mix expects KEY=VALUE" in err and "--policy-param" not in err


def test_no_managed_nodes_reads_as_such_not_as_an_empty_clamp():
    result = build_policy("queue_aware_v1").decide(PolicyInput([], DemandSummary(performance=3), 0.0))
    assert result.performance_nodes == 0
    assert "no eligible nodes" in result.reason and "[1, 0]" not in result.reason


def test_plan_answers_for_every_node_asked():
    rt = runtime_of([node("a", "performance"), node("b", "eco"), node("c", managed=False)], hp_frac=0.5)
    client = client_of(rt)
    body = client.get("/plan", params=[("node", "a"), ("node", "b"), ("node", "c"), ("node", "ghost")]).json()
    assert [n["name"] for n in body["nodes"]] == ["a", "b"]
    assert [u["name"] for u in body["unmanagedNodes"]] == ["c"] and body["unknownNodes"] == ["ghost"]
    assert client.get("/plan", params={"node": "ghost"}).status_code == 404


def test_ored_terms_that_eco_nodes_satisfy_are_not_performance_demand():
    spec = {"affinity": affinity([(KEY, "In", ["performance"])], [(KEY, "In", ["eco"])])}
    assert classify_spec(spec) == "general"
