"""The agent process: pass loop, signals, status publishing, probes.

Each pass reads the desired state, applies or verifies it, publishes the status and
samples telemetry; then it sleeps for the interval or until the profile changes. On
SIGTERM/SIGINT the loop ends and every saved original is written back.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from agent.backends.nvml import Nvml
from agent.engine import Engine, EngineConfig, PassResult, PodCoresInput
from agent.inventory import capabilities, discover
from agent.metrics import AgentMetrics
from agent.plan import Limits
from agent.podresources.client import PodResourcesClient
from agent.power_report import PowerReporter
from agent.settings import AgentSettings
from agent.source import Desired, FileSource, ProfileSource
from agent.state import OriginalsStore, StateLock
from agent.sysfs import Sysfs
from agent.telemetry import Telemetry

if TYPE_CHECKING:
    from agent.kube import KubeSource

log = logging.getLogger(__name__)

Publisher = Callable[[Desired, PassResult], None]


class Runner:
    def __init__(
        self,
        engine: Engine,
        telemetry: Telemetry,
        source: ProfileSource,
        interval: float,
        publish: Publisher | None = None,
        pod_resources: PodResourcesClient | None = None,
    ) -> None:
        self.engine, self.telemetry, self.source = engine, telemetry, source
        self.interval = interval
        self.publish = publish
        self.power = PowerReporter(engine.config.limits)
        self.pod_resources = pod_resources
        self.stopping = threading.Event()
        self.passes = 0
        self.last_pass = 0.0

    def run_pass(self) -> PassResult:
        desired = self.source.current()
        tp = desired.telemetry
        pods = None
        if self.pod_resources is not None and desired.pods is not None:
            pods = PodCoresInput(desired.pods, desired.power_profiles or {}, self.pod_resources.poll())
        result = self.engine.reconcile(
            desired.profile, tp.spec.controls if tp else None, desired.invalid, desired.generation, pods
        )
        try:
            inv = discover(self.engine.fs)
            sample = self.telemetry.sample(inv, tp.spec.sources if tp else None)
            if result.status is not None:
                reading = self.power.reading(sample, inv, self.engine.gpu_devices(), self.engine.clock())
                result.status = result.status.model_copy(update={"power": reading})
        except Exception:
            log.exception("telemetry sample failed")
        if self.publish is not None:
            try:
                self.publish(desired, result)
            except Exception:
                log.exception("publishing status failed")
        self.passes += 1
        self.last_pass = time.monotonic()
        return result

    def run(self, once: bool = False) -> int:
        """Loop until stopped; returns 0, or 1 when ``once`` and the profile was not applied.

        A signal during a pass lets the pass finish its writes (a transaction is never left
        half-done) and then restores every original, in loop mode and with ``once`` alike.
        """
        while True:
            try:
                result = self.run_pass()
            except Exception:
                log.exception("agent pass failed; retrying after the interval")
                result = None
            if once and self.stopping.is_set():
                report = self.engine.restore_all()
                log.warning(
                    "interrupted during --once: originals restored",
                    extra={"restored": report.restored, "failed": report.failed},
                )
                return 1
            if once:
                return 0 if result is not None and result.ok else 1
            if self.stopping.is_set():
                break
            self.source.wait(self.interval)
            if self.stopping.is_set():
                break
        self.engine.restore_all()
        return 0

    def stop(self) -> None:
        self.stopping.set()
        self.source.stop()

    def healthy(self) -> tuple[bool, str]:
        if self.passes == 0:
            return True, "starting"
        age = time.monotonic() - self.last_pass
        limit = 3 * self.interval + 30
        return (age < limit, f"last pass {age:.0f}s ago" + ("" if age < limit else f" (limit {limit:.0f}s)"))

    def ready(self) -> tuple[bool, str]:
        ok, why = self.source.ready()
        if not ok:
            return ok, why
        return (self.passes > 0, "ok" if self.passes else "first pass not done")


SignalHandlers = dict[int, Callable[[int, FrameType | None], Any] | int | None]


def install_signal_handlers(runner: Runner) -> SignalHandlers:
    """SIGTERM/SIGINT stop the runner (which then restores); returns the handlers they replaced."""

    def handler(signum: int, _frame: object) -> None:
        log.info("signal received; restoring originals and exiting", extra={"signal": signal.Signals(signum).name})
        runner.stop()

    if threading.current_thread() is not threading.main_thread():
        return {}  # signals reach the main thread only; an embedding caller handles them
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def restore_signal_handlers(previous: SignalHandlers) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def print_status(desired: Desired, result: PassResult) -> None:
    """Offline publisher: the status a cluster would get, as one JSON line on stdout."""
    doc = {
        "name": desired.name,
        "ok": result.ok,
        "status": result.status.to_api() if result.status else None,
        "control": result.control.to_api() if result.control else None,
    }
    sys.stdout.write(json.dumps(doc, sort_keys=True) + "\n")
    sys.stdout.flush()


def _kube_publisher(source: KubeSource, dry_run: bool) -> Publisher:
    from agent.kube import merge_patch_body

    def publish(desired: Desired, result: PassResult) -> None:
        if dry_run:
            log.info("dry-run: status not written", extra={"status": result.status.to_api() if result.status else None})
            return
        if result.status is not None and (desired.profile is not None or desired.invalid is not None):
            source.patch_profile_status(merge_patch_body(result.status))
        pods = result.pod_profiles
        if pods is not None:
            if pods.capacity is not None:
                source.sync_capacity(pods.capacity)
            for event in pods.events:
                source.emit_pod_event(event)
        tp = desired.telemetry
        if tp is not None and result.control is not None and tp.spec.target.scope == "node":
            # Cluster-scoped TelemetryProfiles are shared by every node: one node's
            # result there would be overwritten by the next, so only node scope is reported.
            source.patch_telemetry_status(tp.metadata.get("name", ""), merge_patch_body(result.control))

    return publish


def build(settings: AgentSettings, nvml_module: object | None = None) -> tuple[Engine, Telemetry]:
    metrics = AgentMetrics()
    fs = Sysfs(settings.sysfs_root)
    store = OriginalsStore.in_dir(settings.state_dir)
    nvml = Nvml(nvml_module, enabled=settings.gpu != "off")
    limits = Limits(
        min_cap_pct=settings.min_cap_pct,
        min_cap_watts=settings.min_cap_watts,
        strict=settings.strict_limits,
        package_max_watts=settings.package_max_watts,
    )
    config = EngineConfig(
        node_name=settings.node_name, limits=limits, dry_run=settings.dry_run, reserved_cpus=settings.reserved_cpus
    )
    return Engine(fs, store, nvml, config, metrics), Telemetry(fs, nvml, metrics)


def print_inventory(settings: AgentSettings) -> int:
    """``--inventory``: what the node supports, from sysfs alone (no cluster, no writes, no lock)."""
    from agent.inventory_view import inventory_table

    caps = capabilities(discover(Sysfs(settings.sysfs_root)))
    if settings.inventory_json:
        sys.stdout.write(json.dumps(caps.to_api(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(inventory_table(caps, settings.sysfs_root) + "\n")
    return 0


def run_agent(settings: AgentSettings) -> int:
    if settings.inventory:
        return print_inventory(settings)
    if settings.dry_run:  # reads only: no lock, nothing created
        return _run_locked(settings)
    with StateLock(settings.state_dir).held():
        return _run_locked(settings)


def _run_locked(settings: AgentSettings) -> int:
    engine, telemetry = build(settings)
    if settings.restore:
        report = engine.restore_all()
        failed = {**engine.store.rejected, **report.failed}
        print(json.dumps({"restored": report.restored, "failed": failed}, sort_keys=True))
        return 1 if failed or (not engine.store.empty() and not settings.dry_run) else 0
    pod_resources: PodResourcesClient | None = None
    if settings.profile:
        source: ProfileSource = FileSource(settings.profile)
        publish: Publisher | None = print_status
    else:
        from agent.kube import KubeSource
        from joulie.kube.client import build_api_client

        kube = KubeSource(
            build_api_client(settings.kubeconfig, settings.context),
            settings.node_name,
            pod_profiles=bool(settings.pod_resources_socket),
        )
        if settings.pod_resources_socket:
            pod_resources = PodResourcesClient(settings.pod_resources_socket)
        if not kube.start():
            log.warning("cluster not reachable yet; the watches keep retrying", extra={"ready": kube.ready()[1]})
        source, publish = kube, _kube_publisher(kube, settings.dry_run)
    runner = Runner(engine, telemetry, source, settings.interval_seconds, publish, pod_resources)
    server = None
    if not settings.once and settings.metrics_port:
        from joulie.probes import ProbeServer

        server = ProbeServer(
            settings.metrics_port, runner.healthy, runner.ready, render_metrics=engine.metrics.render, name="agent-http"
        )
        server.start()
        log.info("serving /metrics, /healthz, /readyz", extra={"port": server.port})
    previous = install_signal_handlers(runner)
    try:
        return runner.run(once=settings.once)
    finally:
        restore_signal_handlers(previous)
        source.stop()
        if server is not None:
            server.stop()
        if pod_resources is not None:
            pod_resources.close()
        engine.nvml.stop()
