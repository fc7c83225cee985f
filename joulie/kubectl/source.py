"""Where ``kubectl joulie`` gets the ``/plan`` JSON from.

- the cluster (``--kubeconfig``/``--context``, else ``KUBECONFIG``/in-cluster/``~/.kube/config``):
  nodes, pods and NodePowerProfiles listed once (:func:`labeller.kube.run.load_cluster_state`),
  planned by the real planner as ``joulie plan`` plans them;
- a snapshot (``--snapshot FILE``, ``--example``): the same, from ``kubectl get -o yaml`` output;
- a running ``joulie serve`` (``--plan-url URL``): its own ``/plan``, with what only the server
  knows (the labeller's flags, its previous plan, power budgets and telemetry).

The first two answer through :meth:`extender.service.ExtenderService.plan_view`, the code that
answers ``GET /plan``: ``kubectl joulie why NODE -o json`` is what ``/plan?node=NODE`` would be.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import orjson

from extender.service import ExtenderService
from joulie.core.model import PodInfo
from joulie.core.plan import Plan
from joulie.core.selector import LabelSelector
from joulie.core.store import ClusterStore
from joulie.errors import ConfigError
from labeller.budgets.source import CachedBudgetSource, PolicyCache
from labeller.config import PlannerConfig
from labeller.memory import InMemoryCluster
from labeller.planner import Planner
from labeller.profiles import ProfileCache
from labeller.reconciler import Reconciler
from labeller.snapshot import load_snapshot

PLAN_URL_TIMEOUT_SECONDS = 10.0


class PlanUnavailable(ConfigError):
    """No plan could be read: the message says from where and why."""


@dataclass(frozen=True, slots=True)
class PlanAnswer:
    """What ``/plan`` (or ``/plan?node=...``) answered: its status and its JSON body."""

    status: int
    body: dict[str, Any]
    origin: str
    """Where the plan came from, for messages: ``cluster https://...``, a file, a URL."""


@dataclass(slots=True)
class ComputedPlan:
    """A plan computed once from one read of the cluster, as the extender's ``/plan`` sees a labeller.

    Nothing re-plans it: it is a picture of one moment, which is what a command prints.
    """

    store: ClusterStore
    selector: LabelSelector
    plan: Plan

    def latest_plan(self) -> Plan:
        return self.plan

    def unplaceable(self, pod: PodInfo) -> None:
        """Nothing to promote: this plan is never reconciled (``/plan`` does not call it)."""

    def ready(self) -> tuple[bool, str]:
        return True, "computed once"

    def healthy(self) -> tuple[bool, str]:
        return True, "computed once"


def plan_from_state(
    store: ClusterStore,
    profiles: ProfileCache,
    policies: PolicyCache,
    config: PlannerConfig,
    nodes: list[str],
    origin: str,
) -> PlanAnswer:
    """Plan ``store`` as ``joulie plan`` does and answer as ``GET /plan[?node=...]`` would."""
    planner = Planner(config)
    # The writer is never called: compute_plan is a query.
    budgets = CachedBudgetSource(policies)
    plan = Reconciler(
        store, profiles, planner, InMemoryCluster(store, profiles), dry_run=True, budgets=budgets
    ).compute_plan()
    status, body = ExtenderService(ComputedPlan(store, planner.selector, plan)).plan_view(nodes)
    return PlanAnswer(status, orjson.loads(body), origin)


def plan_from_cluster(
    kubeconfig: str | None, context: str | None, config: PlannerConfig, nodes: list[str]
) -> PlanAnswer:
    from joulie.kube.client import build_api_client
    from labeller.kube.run import load_cluster_state

    api = build_api_client(kubeconfig, context)  # fails early, with what was tried, when there is no config
    host = str(api.configuration.host)
    api.close()
    state = load_cluster_state(kubeconfig, context)
    return plan_from_state(state.store, state.profiles, state.policies, config, nodes, f"the cluster at {host}")


def plan_from_snapshot(path: str, config: PlannerConfig, nodes: list[str]) -> PlanAnswer:
    snap = load_snapshot(path)
    return plan_from_state(snap.store, snap.profiles, snap.policies, config, nodes, f"snapshot {path}")


def plan_url(base: str, nodes: list[str]) -> str:
    """``base`` with ``/plan`` when it names only a server, and one ``node`` parameter per node."""
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PlanUnavailable(f"--plan-url {base!r} is not an http:// or https:// URL")
    path = parts.path if parts.path not in ("", "/") else "/plan"
    query = urllib.parse.parse_qsl(parts.query) + [("node", n) for n in nodes]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, urllib.parse.urlencode(query), ""))


def plan_from_url(base: str, nodes: list[str]) -> PlanAnswer:
    url = plan_url(base, nodes)
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "kubectl-joulie"})
    try:
        with urllib.request.urlopen(request, timeout=PLAN_URL_TIMEOUT_SECONDS) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PlanUnavailable(f"cannot reach {url}: {reason}") from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise PlanUnavailable(
            f"{url} answered {status} with something that is not JSON: is it joulie's /plan?"
        ) from None
    if not isinstance(body, dict) or (status == 200 and not isinstance(body.get("nodes"), list)):
        raise PlanUnavailable(f"{url} answered {status} with JSON that is not a plan: is it joulie's /plan?")
    return PlanAnswer(status, body, url)
