"""Helpers of the extender tests: a labeller over in-memory objects, an HTTP client, request bodies."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.testclient import TestClient

from extender.app import create_app
from extender.service import ExtenderService
from labeller.config import PlannerConfig
from labeller.planner import Planner
from labeller.runtime import SnapshotRuntime
from labeller.snapshot import parse_snapshot
from tests.kube.conftest import cluster  # noqa: F401 - the API-server fixture of test_serve_cluster


def runtime_of(
    objs: Iterable[dict[str, Any]], policy: str = "static_partition", start: bool = True, **params: Any
) -> SnapshotRuntime:
    snap = parse_snapshot(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)}).decode())
    config = PlannerConfig(
        policy=policy, policy_params=params or ({"hp_frac": 0.5} if policy == "static_partition" else {})
    )
    rt = SnapshotRuntime(snap.store, snap.profiles, Planner(config))
    if start:
        rt.start()
    return rt


def client_of(rt: SnapshotRuntime, **kw: Any) -> TestClient:
    service = kw.pop("service", None) or ExtenderService(rt)
    return TestClient(create_app(rt, service=service, **kw))


def names_body(pod: dict[str, Any], names: list[str]) -> bytes:
    return orjson.dumps({"Pod": pod, "Nodes": None, "NodeNames": names})


def full_body(pod: dict[str, Any], nodes: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"Pod": pod, "Nodes": {"metadata": {}, "items": nodes}, "NodeNames": None})
