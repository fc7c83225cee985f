"""The HTTP surface of `joulie serve`: captured scheduler requests, feedback, /plan, probes, bad input."""

from __future__ import annotations

import json

import orjson
import pytest

from tests.builders import node, pod
from tests.extender.conftest import client_of, names_body, runtime_of
from tests.extender.godecode import scheduler_filter, scheduler_prioritize

KEY = "joulie.io/power-profile"


def fixture(fixtures_dir, name):
    return json.loads((fixtures_dir / f"{name}.json").read_text())


def example_runtime():
    return runtime_of([node("a", "performance"), node("b", "eco")], hp_frac=0.5)


@pytest.mark.parametrize(
    "name", ["filter-node-names", "filter-full-nodes", "prioritize-node-names", "prioritize-full-nodes"]
)
def test_captured_requests_get_replies_the_scheduler_decodes(fixtures_dir, name):
    fx = fixture(fixtures_dir, name)
    body = fx["request_body"]
    inputs = body["NodeNames"] or [n["metadata"]["name"] for n in body["Nodes"]["items"]]
    r = client_of(example_runtime()).post(fx["path"], content=json.dumps(body), headers=fx["request_headers"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    if name.startswith("filter"):
        got = scheduler_filter(fx["nodeCacheCapable"], inputs, r.status_code, r.content)
        assert got.error is None and got.feasible == inputs  # fixture nodes are not Joulie's: they pass
        reply = orjson.loads(r.content)
        assert set(reply) == {"Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"}
        if fx["nodeCacheCapable"]:
            assert reply["NodeNames"] == inputs and reply["Nodes"] is None
        else:
            assert reply["Nodes"]["items"] == body["Nodes"]["items"]
    else:
        scores = scheduler_prioritize(r.status_code, r.content)
        assert scores is not None and set(scores) == set(inputs)
        assert all(type(h["Score"]) is int for h in orjson.loads(r.content))


def test_captured_request_for_a_performance_pod_on_eco_nodes(fixtures_dir):
    fx = fixture(fixtures_dir, "filter-node-names")
    body = fx["request_body"]
    body["Pod"]["spec"]["nodeSelector"] = {KEY: "performance"}
    rt = runtime_of([node("node-a", "eco"), node("node-b", "eco"), node("node-c", "performance")], hp_frac=0.34)
    r = client_of(rt).post(fx["path"], content=json.dumps(body))
    reply = orjson.loads(r.content)
    assert reply["NodeNames"] == []  # non-null: null would also mean "none", but by accident
    got = scheduler_filter(True, ["node-a", "node-b"], r.status_code, r.content)
    assert got.error is None and got.feasible == [] and set(got.unresolvable) == {"node-a", "node-b"}


def test_a_performance_pod_with_no_node_promotes_one_draining_first():
    waiting = pod("urgent", demand="performance", cpu="2")
    rt = runtime_of(
        [node("e1", "eco"), node("e2", "eco"), node("e3", "eco"), pod("old-perf", "e2", "performance"), waiting],
        hp_frac=0.0,
    )
    assert rt.latest_plan().performance_count == 0 and rt.latest_plan().decision("e2").draining
    client = client_of(rt)
    first = client.post("/filter", content=names_body(waiting, ["e1", "e2", "e3"]))
    assert scheduler_filter(True, ["e1", "e2", "e3"], 200, first.content).feasible == []
    plan = client.get("/plan").json()
    promoted = [n["name"] for n in plan["nodes"] if n["profile"] == "performance"]
    assert promoted == ["e2"]  # the draining node already runs performance pods
    assert "found no node (default/urgent)" in plan["performanceFloor"]["reason"]
    retry = client.post("/filter", content=names_body(waiting, ["e1", "e2", "e3"]))
    assert scheduler_filter(True, ["e1", "e2", "e3"], 200, retry.content).feasible == ["e2"]
    metrics = client.get("/metrics").text
    assert "joulie_extender_unmet_reports_total 1.0" in metrics


def test_a_pod_the_cluster_does_not_show_pending_promotes_nothing():
    """Anybody can POST /filter: a made-up performance pod must not make a node burn power."""
    rt = runtime_of([node("e1", "eco"), node("e2", "eco")], hp_frac=0.0)
    client = client_of(rt)
    for i in range(3):
        forged = pod(f"forged-{i}", demand="performance", namespace="nowhere")
        r = client.post("/filter", content=names_body(forged, ["e1", "e2"]))
        assert scheduler_filter(True, ["e1", "e2"], 200, r.content).feasible == []
    plan = client.get("/plan").json()
    assert [n["profile"] for n in plan["nodes"]] == ["eco", "eco"] and plan["performanceFloor"] is None


def test_routes_answer_at_the_root_and_under_the_prefix():
    client = client_of(example_runtime(), url_prefix="custom/")
    body = names_body(pod("p"), ["a"])
    for path in ("/filter", "/custom/filter", "/prioritize", "/custom/prioritize"):
        assert client.post(path, content=body).status_code == 200, path
    assert client.get("/custom/plan").status_code == 200
    assert client.post("/scheduler/filter", content=body).status_code == 404


def test_plan_narrowed_to_one_node_explains_it():
    rt = runtime_of(
        [
            node("a", "performance"),
            node("b", "eco"),
            node("r", **{"joulie.io/reserved": "true"}),
            node("cp", managed=False),
        ],
        hp_frac=0.5,
    )
    client = client_of(rt)
    full = client.get("/plan").json()
    assert {n["name"] for n in full["nodes"]} == {"a", "b"} and full["skipped"][0]["name"] == "r"
    one = client.get("/plan", params={"node": "b"}).json()
    assert [n["name"] for n in one["nodes"]] == ["b"] and one["nodes"][0]["reason"]
    assert client.get("/plan", params={"node": "r"}).json()["skipped"][0]["reason"].startswith("reserved")
    cp = client.get("/plan", params={"node": "cp"}).json()
    assert "do not match the node selector" in cp["unmanaged"]["reason"]
    missing = client.get("/plan", params={"node": "nope"})
    assert missing.status_code == 404 and "not known" in missing.json()["error"]


def test_plan_before_the_first_reconcile_is_503():
    rt = runtime_of([node("a", "eco")], start=False)
    r = client_of(rt).get("/plan")
    assert r.status_code == 503 and "no plan yet" in r.json()["error"]


def test_probes_and_metrics():
    client = client_of(example_runtime())
    assert client.get("/healthz").status_code == 200
    assert client.get("/scheduler/readyz").status_code == 200
    client.post("/filter", content=names_body(pod("p", demand="performance"), ["a", "b", "x"]))
    text = client.get("/metrics").text
    assert 'joulie_extender_request_duration_seconds_bucket{le="0.005",verb="filter"}' in text
    assert 'joulie_extender_decisions_total{decision="rejected-eco",demand="performance"}' in text
    assert 'joulie_extender_decisions_total{decision="unmanaged",demand="performance"}' in text


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "empty body"),
        (b"{", "malformed JSON"),
        (b"[1,2]", "not ExtenderArgs"),
        (b'{"NodeNames": ["a"]}', "missing Pod"),
        (b'{"Pod": null, "NodeNames": ["a"]}', "missing Pod"),
        (b'{"Pod": {}, "NodeNames": [1]}', "NodeNames"),
        (b'{"Pod": {}}', "neither NodeNames nor Nodes"),
        (b'{"Pod": {}, "Nodes": {"items": [{"metadata": {}}]}}', "Nodes.items[0] has no metadata.name"),
        (b'{"Pod": {}, "Nodes": {"items": [7]}}', "Nodes.items[0] is not a Node"),
    ],
)
def test_bad_requests_get_400_with_a_clear_message(body, message):
    client = client_of(example_runtime())
    for verb in ("filter", "prioritize"):
        r = client.post(f"/{verb}", content=body)
        assert r.status_code == 400 and message in r.json()["error"], (verb, r.text)


def test_oversized_bodies_are_refused_with_413():
    client = client_of(example_runtime(), max_body_bytes=4096)
    big = names_body(pod("p"), [f"node-{i}" for i in range(1000)])
    r = client.post("/filter", content=big)
    assert r.status_code == 413 and "4096" in r.json()["error"]

    def chunks():  # no Content-Length: refused while streaming
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    r = client.post("/prioritize", content=chunks())
    assert r.status_code == 413
    assert client.post("/filter", content=names_body(pod("p"), ["a"])).status_code == 200


def test_absurd_quantities_in_the_pod_are_not_an_error():
    client = client_of(example_runtime())
    p = pod("p", cpu="1e999999999")
    r = client.post("/prioritize", content=names_body(p, ["a", "b"]))
    assert r.status_code == 200 and scheduler_prioritize(200, r.content) is not None
