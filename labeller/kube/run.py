"""The labeller against a live cluster: informers -> caches -> triggers -> reconcile -> writes.

:class:`KubeRuntime` implements :class:`labeller.runtime.LabellerRuntime`, so
``joulie serve`` (the scheduler extender) reads the same caches and plans.
:func:`run_labeller` is ``joulie labeller``: the runtime plus probes, metrics and
signal handling.

Safety rules the runtime enforces:

- nothing is written before every cache has been listed once, nor while a watch is
  failing (the API is unreachable or answering errors): a plan made from a stale or
  partial view could demote nodes that run performance pods;
- with ``--leader-elect`` only the lease holder writes; followers keep their caches
  and plan on every trigger, so ``/plan`` and the extender stay correct and a
  failover does not start cold.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson
from kubernetes import client as k8s
from prometheus_client import REGISTRY

from joulie.api.v1alpha1 import NPP_PLURAL, PCP_PLURAL
from joulie.core.facility import ThermalReadings
from joulie.core.model import NodeInfo, PodInfo
from joulie.core.plan import Plan
from joulie.core.store import ClusterStore
from joulie.kube.client import (
    NODES_PATH,
    NPP_PATH,
    PCP_PATH,
    PODS_PATH,
    ApiError,
    KubeConfigError,
    api_host,
    build_api_client,
    list_all,
)
from joulie.kube.informer import Informer
from joulie.probes import ProbeServer
from labeller.budgets.performance import PerformancePoller
from labeller.budgets.source import CachedBudgetSource, PolicyCache
from labeller.config import PlannerConfig
from labeller.executor import ReconcileResult
from labeller.kube.leader import LeaderElector
from labeller.kube.triggers import node_trigger, nodes_relist_trigger, pod_trigger, profile_trigger
from labeller.kube.writer import DryRunWriter, KubeWriter
from labeller.loop import Triggers, run_loop
from labeller.metrics import LabellerMetrics
from labeller.planner import Planner
from labeller.profiles import ProfileCache
from labeller.reconciler import Reconciler
from labeller.settings import LoopSettings
from labeller.writes import StateWriter

log = logging.getLogger(__name__)

ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
"""Finished pods never count as demand; not listing them keeps memory flat on clusters
full of completed Jobs (a pod that finishes arrives as a DELETED event)."""


class KubeRuntime:
    def __init__(
        self,
        api: k8s.ApiClient,
        planner: Planner,
        *,
        interval: float = 30.0,
        debounce: float = 0.2,
        dry_run: bool = False,
        leader: LeaderElector | None = None,
        identity: str = "",
        event_namespace: str = "default",
        watch_timeout_seconds: int = 300,
        page_size: int = 500,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.time,
        metrics: LabellerMetrics | None = None,
    ) -> None:
        self.api = api
        self.planner = planner
        self.metrics = metrics if metrics is not None else LabellerMetrics()
        self.store = ClusterStore()
        self.profiles = ProfileCache()
        self.policies = PolicyCache()
        self.performance = PerformancePoller(self.policies, clock=clock)
        self.thermal: ThermalReadings | None = None
        """Inlet temperatures for rack limits: the facility collectors, when ``joulie serve`` runs them."""
        self.selector = planner.selector
        self.leader = leader
        self.dry_run = dry_run
        if leader is not None:
            leader.on_started_leading = lambda: self.request_reconcile("leader: acquired the lease")
        self.writer: StateWriter = (
            DryRunWriter()
            if dry_run
            else KubeWriter(
                api, event_namespace=event_namespace, reporting_instance=identity, allowed=self.is_leader, clock=clock
            )
        )
        self.reconciler = Reconciler(
            self.store,
            self.profiles,
            planner,
            self.writer,
            metrics=self.metrics,
            clock=clock,
            budgets=CachedBudgetSource(self.policies, inlet=self._inlet, performance=self.performance.figures),
        )
        self.triggers = Triggers(interval, debounce, count=self.metrics.count_trigger)
        common: dict[str, Any] = dict(
            page_size=page_size,
            watch_timeout_seconds=watch_timeout_seconds,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            count_error=self.metrics.count_error,
        )
        self.informers = [
            Informer(
                api, NODES_PATH, self._replace_nodes, self._upsert_node, self._delete_node, name="nodes", **common
            ),
            Informer(
                api,
                PODS_PATH,
                self._replace_pods,
                self._upsert_pod,
                self._delete_pod,
                name="pods",
                params={"fieldSelector": ACTIVE_PODS},
                **common,
            ),
            Informer(
                api,
                NPP_PATH,
                self._replace_profiles,
                self._upsert_profile,
                self._delete_profile,
                name=NPP_PLURAL,
                **common,
            ),
            Informer(
                api,
                PCP_PATH,
                self._replace_policies,
                self._upsert_policy,
                self._delete_policy,
                name=PCP_PLURAL,
                absent_ok=True,  # a cluster upgraded with `helm upgrade` may not have the CRD yet
                **common,
            ),
        ]
        self._latest: Plan | None = None
        self._stopping = threading.Event()
        self._loop_thread: threading.Thread | None = None
        self.reconciles = 0

    # ------------------------------------------------------------ LabellerRuntime

    def latest_plan(self) -> Plan | None:
        return self._latest

    def request_reconcile(self, reason: str) -> None:
        self.triggers.request(reason)

    def unplaceable(self, pod: PodInfo) -> None:
        # kube-scheduler records the failure on the pod (PodScheduled=False, Unschedulable);
        # the watch brings that to every replica, and the plan counts it from there.
        self.request_reconcile(f"extender: performance pod {pod.key} found no performance node")

    def is_leader(self) -> bool:
        return self.leader is None or self.leader.is_leader()

    def synced(self) -> bool:
        return all(inf.synced for inf in self.informers)

    def ready(self) -> tuple[bool, str]:
        waiting = [inf.name for inf in self.informers if not inf.synced]
        failing = [inf.last_error for inf in self.informers if inf.last_error]
        if failing:
            return False, "API server unreachable or failing: " + "; ".join(str(f) for f in failing)
        if waiting:
            return False, "caches not synced yet: " + ", ".join(waiting)
        role = "" if self.leader is None else (" (leader)" if self.is_leader() else " (follower)")
        return True, f"ok{role}"

    def healthy(self) -> tuple[bool, str]:
        if self._loop_thread is not None and not self._loop_thread.is_alive() and not self._stopping.is_set():
            return False, "reconcile loop stopped"
        dead = [inf.name for inf in self.informers if self._loop_thread is not None and not inf.alive]
        if dead and not self._stopping.is_set():
            return False, "informer thread stopped: " + ", ".join(dead)
        return True, "ok"

    def start(self) -> None:
        self.start_informers()
        self.performance.start()
        if self.leader is not None:
            self.leader.start()
        self._loop_thread = threading.Thread(target=self._loop, name="reconcile-loop", daemon=True)
        self._loop_thread.start()

    def stop(self) -> None:
        """Stop the loop first (no write after this returns), then the watches, then hand the lease back."""
        self._stopping.set()
        self.triggers.stop()
        if self._loop_thread is not None:
            self._loop_thread.join(30)
        for inf in self.informers:
            inf.stop()
        self.performance.stop()
        if self.leader is not None:
            self.leader.stop()

    # ------------------------------------------------------------ running

    def start_informers(self) -> None:
        for inf in self.informers:
            inf.start()

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._stopping.is_set():
            if self.synced():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return False

    def _loop(self) -> None:
        while not self._stopping.is_set() and not self.synced():
            self._stopping.wait(0.1)
        if self._stopping.is_set():
            return
        log.info(
            "caches synced",
            extra={"nodes": len(self.store), "pods": len(self.store.pods()), "profiles": len(self.profiles.items())},
        )
        run_loop(self.triggers, self.reconcile_once, self.metrics.count_error)

    def reconcile_once(self, reason: str) -> ReconcileResult | None:
        """One pass: write as the leader, only plan as a follower, never write on an unready view."""
        ok, why = self.ready()
        if not ok:
            log.warning("not reconciling: %s", why, extra={"trigger": reason})
            return None
        if not self.is_leader():
            self._latest = self.reconciler.compute_plan()
            return None
        result = self.reconciler.reconcile(reason)
        self._latest = result.plan
        self.reconciles += 1
        return result

    # ------------------------------------------------------------ watch handlers

    def _is_draining(self, node: str) -> bool:
        info = self.store.node(node)
        if info is not None and info.draining_label:
            return True
        plan = self._latest
        decision = plan.decision(node) if plan is not None else None
        return decision is not None and decision.draining

    def _trigger(self, reason: str | None) -> None:
        if reason is not None:
            self.triggers.request(reason)

    def _replace_nodes(self, objs: Any) -> None:
        if not self.informers[0].synced:  # the first list: nothing was missed
            self.store.replace_nodes(objs)
            return
        # A relist: catch up on what we missed.
        before = self.store.snapshot().nodes
        self.store.replace_nodes(objs)
        self._trigger(nodes_relist_trigger(before, self.store.snapshot().nodes, self.selector))

    def _upsert_node(self, obj: dict[str, Any]) -> None:
        try:
            new = NodeInfo.from_api(obj)
        except ValueError as exc:
            log.warning("skipping malformed node: %s", exc)
            return
        old = self.store.node(new.name)
        self.store.put_node(new)
        self._trigger(node_trigger(old, new, self.selector))

    def _delete_node(self, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if not isinstance(name, str):
            return
        old = self.store.node(name)
        self.store.delete_node(name)
        self._trigger(node_trigger(old, None, self.selector))

    def _replace_pods(self, objs: Any) -> None:
        first = not self.informers[1].synced
        self.store.replace_pods(objs)
        if not first:
            self._trigger("pods: relisted")

    def _upsert_pod(self, obj: dict[str, Any]) -> None:
        try:
            new = PodInfo.from_api(obj)
        except ValueError as exc:
            log.warning("skipping malformed pod: %s", exc)
            return
        old = self.store.put_pod(new)
        self._trigger(pod_trigger(old, new, self._is_draining))

    def _delete_pod(self, obj: dict[str, Any]) -> None:
        try:
            gone = PodInfo.from_api(obj)
        except ValueError:
            return
        old = self.store.delete_pod(gone.uid)
        self._trigger(pod_trigger(old, None, self._is_draining))

    def _replace_profiles(self, objs: Any) -> None:
        if not self.informers[2].synced:  # the first list: nothing to compare with
            self.profiles.replace(objs)
            return
        before = {o.name: o.spec for o in self.profiles.items()}
        self.profiles.replace(objs)
        if before != {o.name: o.spec for o in self.profiles.items()}:
            self._trigger("profile: changed while not watching (relist)")

    def _upsert_profile(self, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        old = self.profiles.get(name) if isinstance(name, str) else None
        self.profiles.upsert(obj)
        self._trigger(profile_trigger(old, obj))

    def _delete_profile(self, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if not isinstance(name, str):
            return
        old = self.profiles.get(name)
        self.profiles.delete(name)
        self._trigger(profile_trigger(old, None))

    def _replace_policies(self, objs: Any) -> None:
        before = {v.name: v.spec for v in self.policies.items()}
        self.policies.replace(objs)
        if self.informers[3].synced and before != {v.name: v.spec for v in self.policies.items()}:
            self._trigger("budget: policies changed while not watching (relist)")

    def _upsert_policy(self, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        old = self.policies.get(name) if isinstance(name, str) else None
        self.policies.upsert(obj)
        new = self.policies.get(name) if isinstance(name, str) else None
        # our own status writes come back as events too: only a spec change replans
        if old is None or new is None or old.spec != new.spec or old.invalid != new.invalid:
            self._trigger(f"budget: PowerCappingPolicy {name} {'created' if old is None else 'changed'}")

    def _delete_policy(self, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if isinstance(name, str) and self.policies.get(name) is not None:
            self.policies.delete(name)
            self._trigger(f"budget: PowerCappingPolicy {name} deleted")

    def attach_thermal(self, readings: ThermalReadings) -> None:
        """Read rack inlet temperatures from ``readings`` (the facility collectors)."""
        self.thermal = readings

    def _inlet(self, node: str, now: float) -> float | None:
        reading = self.thermal.inlet_temperature(node, now) if self.thermal is not None else None
        return reading.value if reading is not None else None


# ---------------------------------------------------------------- joulie labeller


def default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}"


def build_runtime(
    settings: LoopSettings, config: PlannerConfig, api: k8s.ApiClient, metrics: LabellerMetrics | None = None
) -> KubeRuntime:
    identity = settings.identity or default_identity()
    leader = None
    if settings.leader_elect:
        leader = LeaderElector(
            api, settings.lease_name, settings.lease_namespace, identity, settings.lease_duration_seconds
        )
    return KubeRuntime(
        api,
        Planner(config),
        interval=settings.interval_seconds,
        debounce=settings.debounce_seconds,
        dry_run=settings.dry_run,
        leader=leader,
        identity=identity,
        watch_timeout_seconds=settings.watch_timeout_seconds,
        metrics=metrics,
    )


class ClusterState(NamedTuple):
    store: ClusterStore
    profiles: ProfileCache
    policies: PolicyCache


def load_cluster_state(kubeconfig: str | None, context: str | None) -> ClusterState:
    """The caches filled from one list of nodes, pods, NodePowerProfiles and PowerCappingPolicies.

    For ``joulie plan`` against a live cluster. A cluster without the Joulie CRDs
    installed has no profiles or policies yet; that is not an error for planning.
    """
    api = build_api_client(kubeconfig, context)
    try:
        store = ClusterStore()
        profiles = ProfileCache()
        try:
            nodes, _ = list_all(api, NODES_PATH)
            pods, _ = list_all(api, PODS_PATH, params={"fieldSelector": ACTIVE_PODS})
        except ApiError as exc:
            raise KubeConfigError(f"cannot read the cluster at {api_host(api)}: {exc}") from None
        store.replace_nodes(nodes)
        store.replace_pods(pods)
        try:
            npps, _ = list_all(api, NPP_PATH)
            profiles.replace(npps)
        except ApiError as exc:
            if exc.status != 404:
                raise KubeConfigError(f"cannot list NodePowerProfiles at {api_host(api)}: {exc}") from None
            log.warning("NodePowerProfile CRD not installed; planning as if no profile existed")
        policies = PolicyCache()
        try:
            pcps, _ = list_all(api, PCP_PATH)
            policies.replace(pcps)
        except ApiError as exc:
            if exc.status != 404:
                raise KubeConfigError(f"cannot list PowerCappingPolicies at {api_host(api)}: {exc}") from None
            log.warning("PowerCappingPolicy CRD not installed; planning without power budgets")
        return ClusterState(store, profiles, policies)
    finally:
        api.close()


def summary(result: ReconcileResult | None, runtime: KubeRuntime, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"dryRun": runtime.dry_run, **extra}
    if result is not None:
        out.update(
            policy=result.plan.policy,
            nodes=len(result.plan.nodes),
            performance=result.plan.performance_count,
            targetPerformance=result.plan.target_performance,
            writes=result.writes,
            errors=result.errors,
            transitions=[
                {"node": t.node, "from": t.was.value if t.was else None, "to": t.now.value} for t in result.transitions
            ],
        )
    return out


def run_once(runtime: KubeRuntime, sync_timeout: float = 120.0) -> int:
    """``--once``: wait for the caches, one reconcile, one JSON line on stdout."""

    def emit(result: ReconcileResult | None, **extra: Any) -> None:
        print(orjson.dumps(summary(result, runtime, **extra)).decode())

    runtime.start_informers()
    try:
        if not runtime.wait_synced(sync_timeout):
            emit(None, ok=False, error=runtime.ready()[1])
            return 1
        if runtime.leader is not None and not runtime.leader.try_acquire_or_renew():
            emit(None, ok=True, leader=False, holder=runtime.leader.holder)
            return 0
        result = runtime.reconcile_once("once")
        if result is None:
            emit(None, ok=False, error=runtime.ready()[1])
            return 1
        emit(result, ok=not result.errors)
        return 1 if result.errors else 0
    finally:
        for inf in runtime.informers:
            inf.stop()
        if runtime.leader is not None:
            runtime.leader.release()


def run_labeller(
    settings: LoopSettings, planner_config: PlannerConfig, kubeconfig: str | None, context: str | None
) -> int:
    api = build_api_client(kubeconfig, context)
    runtime = build_runtime(settings, planner_config, api, LabellerMetrics(REGISTRY))
    log.info(
        "starting labeller",
        extra={
            "api": api.configuration.host,
            "policy": planner_config.policy,
            "selector": planner_config.node_selector,
            "dryRun": settings.dry_run,
            "leaderElect": settings.leader_elect,
            "interval": settings.interval_seconds,
        },
    )
    try:
        if settings.once:
            return run_once(runtime)
        stop = threading.Event()

        def on_signal(signum: int, _frame: Any) -> None:
            log.info("received %s; shutting down", signal.Signals(signum).name)
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        probes = None
        if settings.metrics_port:
            probes = ProbeServer(settings.metrics_port, runtime.healthy, runtime.ready)
            probes.start()
            log.info("serving /healthz /readyz /metrics", extra={"port": probes.port})
        try:
            runtime.start()
            while not stop.wait(1.0):
                pass
        finally:
            runtime.stop()
            if probes is not None:
                probes.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
        log.info("labeller stopped")
        return 0
    finally:
        api.close()
        sys.stdout.flush()


__all__ = ["KubeRuntime", "build_runtime", "load_cluster_state", "run_labeller", "run_once"]
