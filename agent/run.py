"""The agent process: pass loop, signals, status publishing, probes.

Each pass reads the desired state, applies or verifies it, publishes the status and
samples telemetry; then it sleeps for the interval or until the profile changes. On
SIGTERM/SIGINT the loop ends and every saved original is written back.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from typing import Callable

from agent.backends.nvml import Nvml
from agent.engine import Engine, EngineConfig, PassResult
from agent.inventory import discover
from agent.metrics import AgentMetrics
from agent.plan import Limits
from agent.source import Desired, FileSource, ProfileSource
from agent.state import OriginalsStore
from agent.sysfs import Sysfs
from agent.telemetry import Telemetry

log = logging.getLogger(__name__)

Publisher = Callable[[Desired, PassResult], None]


class Runner:
    def __init__(self, engine: Engine, telemetry: Telemetry, source: ProfileSource, interval: float,
                 publish: Publisher | None = None) -> None:
        self.engine, self.telemetry, self.source = engine, telemetry, source
        self.interval = interval
        self.publish = publish
        self.stopping = threading.Event()
        self.passes = 0
        self.last_pass = 0.0

    def run_pass(self) -> PassResult:
        desired = self.source.current()
        tp = desired.telemetry
        result = self.engine.reconcile(desired.profile, tp.spec.controls if tp else None, desired.invalid,
                                       desired.generation)
        if self.publish is not None:
            try:
                self.publish(desired, result)
            except Exception:  # noqa: BLE001 - a status write must never stop enforcement
                log.exception("publishing status failed")
        try:
            self.telemetry.sample(discover(self.engine.fs), tp.spec.sources if tp else None)
        except Exception:  # noqa: BLE001
            log.exception("telemetry sample failed")
        self.passes += 1
        self.last_pass = time.monotonic()
        return result

    def run(self, once: bool = False) -> int:
        """Loop until stopped; returns 0, or 1 when ``once`` and the profile was not applied."""
        while True:
            try:
                result = self.run_pass()
            except Exception:  # noqa: BLE001 - the loop must survive anything
                log.exception("agent pass failed; retrying after the interval")
                result = None
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


def install_signal_handlers(runner: Runner) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("signal received; restoring originals and exiting", extra={"signal": signal.Signals(signum).name})
        runner.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def print_status(desired: Desired, result: PassResult) -> None:
    """Offline publisher: the status a cluster would get, as one JSON line on stdout."""
    doc = {"name": desired.name, "ok": result.ok,
           "status": result.status.to_api() if result.status else None,
           "control": result.control.to_api() if result.control else None}
    sys.stdout.write(json.dumps(doc, sort_keys=True) + "\n")
    sys.stdout.flush()


def _kube_publisher(source, dry_run: bool) -> Publisher:  # type: ignore[no-untyped-def]
    from agent.kube import merge_patch_body

    def publish(desired: Desired, result: PassResult) -> None:
        if dry_run:
            log.info("dry-run: status not written",
                     extra={"status": result.status.to_api() if result.status else None})
            return
        if result.status is not None and (desired.profile is not None or desired.invalid is not None):
            source.patch_profile_status(merge_patch_body(result.status))
        tp = desired.telemetry
        if tp is not None and result.control is not None and tp.spec.target.scope == "node":
            # Cluster-scoped TelemetryProfiles are shared by every node: one node's
            # result there would be overwritten by the next, so only node scope is reported.
            source.patch_telemetry_status(tp.metadata.get("name", ""), merge_patch_body(result.control))
    return publish


def build(args: argparse.Namespace, node: str, nvml_module: object | None = None) -> tuple[Engine, Telemetry]:
    metrics = AgentMetrics()
    fs = Sysfs(args.sysfs_root)
    store = OriginalsStore.in_dir(args.state_dir)
    nvml = Nvml(nvml_module, enabled=args.gpu != "off")
    limits = Limits(min_cap_pct=args.min_cap_pct, strict=args.strict_limits,
                    package_max_watts=args.package_max_watts)
    engine = Engine(fs, store, nvml, EngineConfig(node_name=node, limits=limits, dry_run=args.dry_run), metrics)
    return engine, Telemetry(fs, nvml, metrics)


def run_agent(args: argparse.Namespace, node: str) -> int:
    engine, telemetry = build(args, node)
    if args.restore:
        report = engine.restore_all()
        failed = {k: v for r in report.values() for k, v in getattr(r, "failed", {}).items()}
        restored = sum(len(getattr(r, "restored", [])) for r in report.values())
        print(json.dumps({"restored": restored, "failed": failed}, sort_keys=True))
        return 1 if failed or not engine.store.empty() and not args.dry_run else 0
    if args.profile:
        source: ProfileSource = FileSource(args.profile)
        publish: Publisher | None = print_status
    else:
        from agent.kube import KubeSource
        from joulie.kube.client import build_api_client

        kube = KubeSource(build_api_client(args.kubeconfig, args.context), node)
        if not kube.start():
            log.warning("cluster not reachable yet; the watches keep retrying", extra={"ready": kube.ready()[1]})
        source, publish = kube, _kube_publisher(kube, args.dry_run)
    runner = Runner(engine, telemetry, source, args.interval, publish)
    server = None
    if not args.once and args.metrics_port:
        from joulie.probes import ProbeServer

        server = ProbeServer(args.metrics_port, runner.healthy, runner.ready,
                             render_metrics=engine.metrics.render, name="agent-http")
        server.start()
        log.info("serving /metrics, /healthz, /readyz", extra={"port": server.port})
    if not args.once:
        install_signal_handlers(runner)
    try:
        return runner.run(once=args.once)
    finally:
        source.stop()
        if server is not None:
            server.stop()
        engine.nvml.stop()
