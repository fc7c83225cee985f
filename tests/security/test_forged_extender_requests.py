"""Denial of wallet through the extender: requests anybody can send must not spend power (issue items 1, 3, 7)."""

from __future__ import annotations

import time

import orjson

from labeller.cli import example_snapshot_path
from labeller.config import PlannerConfig
from labeller.planner import Planner
from labeller.runtime import SnapshotRuntime
from labeller.snapshot import load_snapshot
from tests.builders import node, pod
from tests.extender.conftest import client_of, names_body, runtime_of
from tests.extender.godecode import scheduler_filter


def example_runtime() -> SnapshotRuntime:
    """What `joulie serve --example` serves: the bundled snapshot, default planner settings."""
    snap = load_snapshot(example_snapshot_path())
    rt = SnapshotRuntime(snap.store, snap.profiles, Planner(PlannerConfig()))
    rt.start()
    return rt


def _performance_nodes(client) -> list[str]:
    return [n["name"] for n in client.get("/plan").json()["nodes"] if n["profile"] == "performance"]


def test_forged_filters_for_made_up_pods_promote_nothing_on_the_example():
    """Three forged performance pods (fresh uid, made-up namespace) against only the eco nodes, in 0.6 s."""
    rt = example_runtime()
    client = client_of(rt)
    plan = client.get("/plan").json()
    before = _performance_nodes(client)
    holds_before = {d.name: d.hold for d in rt.latest_plan().nodes if d.hold}
    eco = [n["name"] for n in plan["nodes"] if n["profile"] == "eco"]
    assert eco, "the example must have eco nodes for this test to mean anything"
    for i in range(3):
        forged = pod(f"burn-{i}", demand="performance", namespace=f"made-up-{i}")
        forged["metadata"]["uid"] = f"00000000-0000-0000-0000-00000000000{i}"
        r = client.post("/scheduler/filter", content=names_body(forged, eco))
        assert scheduler_filter(True, eco, r.status_code, r.content).feasible == []
        time.sleep(0.2)
    assert _performance_nodes(client) == before
    assert {d.name: d.hold for d in rt.latest_plan().nodes if d.hold} == holds_before  # no new promotion


def test_a_real_pending_pod_counts_once_however_often_it_is_retried():
    waiting = pod("urgent", demand="performance", cpu="2")
    rt = runtime_of([node(f"e{i}", "eco") for i in range(5)] + [waiting], hp_frac=0.0)
    client = client_of(rt)
    names = [f"e{i}" for i in range(5)]
    client.post("/filter", content=names_body(waiting, names))
    assert len(_performance_nodes(client)) == 1
    # a pod whose uid matches but namespace/name do not is not that pod
    impostor = pod("other", demand="performance", cpu="2")
    impostor["metadata"]["uid"] = waiting["metadata"]["uid"]
    for _ in range(5):
        client.post("/filter", content=names_body(impostor, [n for n in names if n not in _performance_nodes(client)]))
    assert len(_performance_nodes(client)) == 1


def test_forged_prioritize_calls_leave_the_assumed_table_and_real_scores_alone():
    rt = runtime_of([node("e1", "eco", cpu="4"), node("e2", "eco", cpu="4")], hp_frac=0.0)
    client = client_of(rt)
    service = client.app.state.service
    body = {"Pod": None, "Nodes": None, "NodeNames": ["e1", "e2"]}
    for i in range(2000):
        body["Pod"] = pod(f"fake-{i}", cpu="2")
        assert client.post("/prioritize", content=orjson.dumps(body)).status_code == 200
    assert len(service.assumed) == 0
    real = pod("real", cpu="2")
    rt.store.upsert_pod(real)
    body["Pod"] = real
    scores = {h["Host"]: h["Score"] for h in client.post("/prioritize", content=orjson.dumps(body)).json()}
    assert scores == {"e1": 9, "e2": 9}


def test_deeply_nested_json_is_a_400_not_a_500():
    client = client_of(runtime_of([node("a", "eco")]))
    for body in (
        b'{"Pod":{"metadata":' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b'},"NodeNames":["a"]}',
        b'{"Pod":{"spec":{"affinity":' + b"[" * 1000 + b"]" * 1000 + b'}},"NodeNames":["a"]}',
        b'{"Pod":{},"Nodes":{"items":[{"metadata":{"labels":' + b"[" * 1000 + b"]" * 1000 + b"}}]}}",
    ):
        for verb in ("/filter", "/prioritize"):
            r = client.post(verb, content=body)
            assert r.status_code == 400, (verb, r.status_code, r.text)
            error = r.json()["error"]
            assert "nested too deeply" in error or "is not a Node" in error, error
