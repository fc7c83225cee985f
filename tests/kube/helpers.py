"""Building runtimes against the test cluster."""

from __future__ import annotations

from typing import Any

from labeller.config import PlannerConfig
from labeller.kube.leader import LeaderElector
from labeller.kube.run import KubeRuntime
from labeller.planner import Planner
from tests.kube.conftest import Cluster


def planner(cluster: Cluster, **params: Any) -> Planner:
    return Planner(
        PlannerConfig(
            node_selector=cluster.selector, policy="static_partition", policy_params={"hp_frac": 0.5, **params}
        )
    )


def runtime(
    cluster: Cluster, agent: str | None = None, leader: str | None = None, lease: str = "", **kw: Any
) -> KubeRuntime:
    api = cluster.api()
    if agent:
        api.user_agent = agent
    elector = None
    if leader:
        elector = LeaderElector(api, lease or f"joulie-test-{cluster.run_id}", "default", leader, lease_duration=2.0)
    kw.setdefault("interval", 60.0)  # only event triggers and explicit calls reconcile in tests
    kw.setdefault("debounce", 0.05)
    kw.setdefault("watch_timeout_seconds", 5)
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.3)
    return KubeRuntime(api, planner(cluster), leader=elector, identity=leader or "test", **kw)
