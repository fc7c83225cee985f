"""Building runtimes against the test cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from joulie.kube.client import PCP_PATH
from labeller.config import PlannerConfig
from labeller.kube.leader import LeaderElector
from labeller.kube.run import KubeRuntime
from labeller.planner import Planner
from tests.kube.conftest import MERGE, NPP, Cluster


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


def report_power(cluster: Cluster, name: str, package_watts: float, at: float | None = None) -> None:
    """What the node's agent writes into its NodePowerProfile: two packages, the RAPL cap range, the floor."""
    when = datetime.fromtimestamp(at, UTC) if at is not None else datetime.now(UTC)
    power = {
        "measuredAt": when.isoformat(),
        "packages": 2,
        "packageWatts": package_watts,
        "packageCapMinWatts": 27.0,
        "packageCapMaxWatts": 270.0,
        "packageFloorWatts": 40.0,
    }
    cluster.req("PATCH", f"{NPP}/node-{name}/status", {"status": {"power": power}}, MERGE)


def create_policy(cluster: Cluster, name: str, spec: dict[str, Any]) -> None:
    """A PowerCappingPolicy, deleted with the test's other objects."""
    body = {"apiVersion": "joulie.io/v1alpha1", "kind": "PowerCappingPolicy", "metadata": {"name": name}, "spec": spec}
    cluster.req("POST", PCP_PATH, body)
    cluster.created.append(f"{PCP_PATH}/{name}")
