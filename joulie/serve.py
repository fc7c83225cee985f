"""``joulie serve``: the labeller loop and the kube-scheduler extender in one process.

This is the one place where parts are wired together: a labeller runtime (a live
cluster via :mod:`labeller.kube.run`, or a snapshot file) keeps the caches and the
plan; :mod:`extender.app` serves the scheduler from them; both publish metrics into
one registry, which ``/metrics`` renders. One uvicorn worker: the caches live in
this process, and the scheduler calls serially anyway. SIGTERM drains in-flight
requests, then stops the runtime (and with it the leader lease).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from extender.cli import add_http_flags, add_power_flags, serve_settings
from extender.metrics import ExtenderMetrics
from extender.plan_page import plan_page, prefers_html
from extender.power import PowerScores
from extender.service import ExtenderService
from extender.settings import PowerSettings, ServeSettings
from joulie.cliutil import ConfigError, add_kube_flags, add_logging_flags, env
from joulie.facility.settings import FacilitySettings, add_facility_flags, facility_settings
from joulie.logs import setup_logging
from joulie.probes import GetRequest, GetServer, ProbeServer, Reply
from labeller.cli import add_labeller_run_flags, add_planner_flags, example_snapshot_path, loop_settings, planner_config
from labeller.config import PlannerConfig
from labeller.metrics import LabellerMetrics
from labeller.planner import Planner
from labeller.runtime import LabellerRuntime, SnapshotRuntime
from labeller.settings import LoopSettings
from labeller.snapshot import load_snapshot

if TYPE_CHECKING:
    from joulie.facility.kube import FacilityRuntime
    from joulie.facility.usage import NodeUsage

log = logging.getLogger(__name__)


def build_runtime(
    snapshot: str | None,
    loop: LoopSettings,
    config: PlannerConfig,
    kubeconfig: str | None,
    context: str | None,
    metrics: LabellerMetrics,
) -> LabellerRuntime:
    """A snapshot runtime for ``--snapshot``/``--example``, else the live-cluster one."""
    if snapshot:
        snap = load_snapshot(snapshot)
        return SnapshotRuntime(snap.store, snap.profiles, Planner(config), metrics, policies=snap.policies)
    # Imported lazily: snapshot mode needs no kubernetes client.
    from joulie.kube.client import build_api_client
    from labeller.kube.run import build_runtime as build_kube_runtime

    return build_kube_runtime(loop, config, build_api_client(kubeconfig, context), metrics)


def side_servers(
    settings: ServeSettings,
    runtime: LabellerRuntime,
    service: ExtenderService,
    registry: CollectorRegistry,
    listening: Callable[[], bool],
) -> list[GetServer]:
    """Plain-HTTP listeners beside the extender port: probes and metrics (``--probe-port``), and
    ``/plan`` with its page (``/``) on its own bind (``--plan-port``). Readiness there also waits for the extender
    port (``listening``): the side ports open first."""
    servers: list[GetServer] = []
    if settings.probe_port:

        def ready() -> tuple[bool, str]:
            if not listening():
                return False, f"the extender port {settings.port} is not listening yet"
            return runtime.ready()

        servers.append(
            ProbeServer(
                settings.probe_port,
                runtime.healthy,
                ready,
                render_metrics=lambda: generate_latest(registry),
                name="serve-probes",
            )
        )
    if settings.plan_port:
        page = plan_page()

        def page_reply(_: GetRequest) -> Reply:
            return Reply(200, page.body, page.media_type, page.headers)

        def plan(request: GetRequest) -> Reply:
            if prefers_html(request.headers.get("accept")):
                return page_reply(request)
            status, body = service.plan_view([n for n in request.query.get("node", []) if n])
            return Reply(status, body, "application/json", {"Vary": "Accept"})

        servers.append(
            GetServer(
                settings.plan_port,
                {},
                host=settings.plan_host,
                name="serve-plan",
                request_routes={"/plan": plan, "/": page_reply},
            )
        )
    return servers


def uvicorn_config(app: Any, settings: ServeSettings) -> Any:
    import ssl

    import uvicorn

    from extender.limits import guarded_protocol

    options: dict[str, Any] = {}
    if settings.tls_cert_file:
        options.update(ssl_certfile=settings.tls_cert_file, ssl_keyfile=settings.tls_key_file)
        if settings.tls_client_ca_file:
            options.update(ssl_ca_certs=settings.tls_client_ca_file, ssl_cert_reqs=ssl.CERT_REQUIRED)
    protocol = guarded_protocol(settings.header_timeout_seconds)
    if protocol is None:
        log.warning("httptools is not installed: request headers are not timed out (--header-timeout)")
    else:
        options["http"] = protocol
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        access_log=settings.access_log,
        log_config=None,  # our JSON logging (root handler) formats uvicorn's records too
        lifespan="on",
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
        timeout_keep_alive=30,  # the scheduler reuses its connection between pods
        limit_concurrency=settings.max_connections,
        **options,
    )


def build_facility(
    settings: FacilitySettings,
    power: PowerSettings,
    runtime: LabellerRuntime,
    kubeconfig: str | None,
    context: str | None,
    registry: CollectorRegistry,
) -> tuple[FacilityRuntime | None, NodeUsage | None]:
    """The facility runtime (templates, collectors, status) and, with power-aware scoring, the node-usage
    poller; on their own API connection pool. Cluster mode only."""
    from joulie.facility.collector import FacilityCollector
    from joulie.facility.kube import FacilityRuntime
    from joulie.facility.metrics import FacilityMetrics
    from joulie.facility.secrets import KubeSecrets
    from joulie.facility.usage import NodeUsage
    from joulie.kube.client import build_api_client

    if not settings.enabled and not power.enabled:
        return None, None
    api = build_api_client(kubeconfig, context)
    metrics = FacilityMetrics(registry)
    facility = None
    if settings.enabled:
        collector = FacilityCollector(KubeSecrets(api, settings.namespace), metrics, workers=settings.workers)
        is_leader = getattr(runtime, "is_leader", lambda: True)
        facility = FacilityRuntime(
            api, collector, power.model(), may_write=is_leader, status_interval=settings.status_interval_seconds
        )
    usage = NodeUsage(api, metrics) if power.enabled else None
    return facility, usage


def run_serve(
    settings: ServeSettings,
    runtime: LabellerRuntime,
    registry: CollectorRegistry,
    mode: str,
    facility: FacilityRuntime | None = None,
    usage: NodeUsage | None = None,
) -> int:
    import uvicorn

    from extender.app import create_app

    power = None
    if settings.power.enabled:
        power = PowerScores(
            facility.collector if facility is not None else None,
            settings.power.model(),
            settings.power.assumption_factor,
            usage=usage,
        )
    service = ExtenderService(
        runtime,
        ExtenderMetrics(registry),
        assumed_ttl_seconds=settings.assumed_ttl_seconds,
        power=power,
        thermal=facility.collector if facility is not None else None,
    )
    server: uvicorn.Server | None = None
    servers = side_servers(settings, runtime, service, registry, lambda: server is not None and server.started)

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        yield
        # Runs after uvicorn drained in-flight requests and before it re-raises
        # SIGTERM: the runtime (watches, leader lease) is released in order.
        for side in servers:
            await asyncio.to_thread(side.stop)
        await asyncio.to_thread(runtime.stop)
        for extra in (facility, usage):
            if extra is not None:
                await asyncio.to_thread(extra.stop)
        log.info("stopped")

    app = create_app(
        runtime,
        service=service,
        lifespan=lifespan,
        registry=registry,
        settings=settings,
        plan_route=not settings.plan_port,
    )
    server = uvicorn.Server(uvicorn_config(app, settings))
    runtime.start()
    for side in servers:
        side.start()
    for extra in (facility, usage):
        if extra is not None:
            extra.start()
    # Move what is loaded so far (caches, plan) out of the collector's view: a full
    # collection then no longer walks it, which would otherwise show as p99 spikes.
    gc.collect()
    gc.freeze()
    log.info(
        "serving",
        extra={
            "host": settings.host,
            "port": settings.port,
            "urlPrefix": settings.url_prefix,
            "mode": mode,
            "tls": bool(settings.tls_cert_file),
            "clientCertificates": bool(settings.tls_client_ca_file),
            "probePort": settings.probe_port or None,
            "planPort": settings.plan_port or None,
            "powerAwareScoring": settings.power.enabled,
            "facilityTelemetry": facility is not None,
        },
    )
    server.run()
    return 0 if server.started else 1


def runtime_from_args(args: argparse.Namespace, metrics: LabellerMetrics) -> LabellerRuntime:
    """The labeller runtime ``joulie serve`` flags describe."""
    snapshot = example_snapshot_path() if args.example else args.snapshot
    return build_runtime(snapshot, loop_settings(args), planner_config(args), args.kubeconfig, args.context, metrics)


def cmd_serve(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    if args.once:
        raise ConfigError("--once is for `joulie labeller`; `joulie serve` runs until stopped")
    settings = serve_settings(args)
    # The process registry: /metrics then also carries the Python process and GC collectors.
    registry = REGISTRY
    snapshot_mode = bool(args.example or args.snapshot)
    facility_cfg = facility_settings(args)
    if facility_cfg.enabled and snapshot_mode:
        raise ConfigError("--facility-telemetry needs a cluster (FacilityTelemetryTemplates, nodes, Secrets)")
    runtime = runtime_from_args(args, LabellerMetrics(registry))
    facility = usage = None
    if not snapshot_mode:
        facility, usage = build_facility(facility_cfg, settings.power, runtime, args.kubeconfig, args.context, registry)
        if facility is not None:
            from labeller.kube.run import KubeRuntime

            if isinstance(runtime, KubeRuntime):
                runtime.attach_thermal(facility.collector)  # rack temperature limits read the inlet sensors
    return run_serve(settings, runtime, registry, "snapshot" if snapshot_mode else "cluster", facility, usage)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the kube-scheduler extender and /plan, with the labeller loop beside it",
        description="Serve POST /filter and /prioritize (kube-scheduler extender), GET /plan, /healthz, "
        "/readyz and /metrics, while the labeller keeps the plan current. With --snapshot or "
        "--example no cluster is needed.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--snapshot",
        metavar="FILE",
        default=env("JOULIE_SNAPSHOT", None),
        help="serve from `kubectl get nodes,pods -A -o yaml` output instead of a live cluster (env JOULIE_SNAPSHOT)",
    )
    src.add_argument("--example", action="store_true", help="serve from the bundled example snapshot")
    add_http_flags(p)
    add_power_flags(p)
    add_facility_flags(p)
    add_planner_flags(p)
    add_labeller_run_flags(p)
    add_kube_flags(p)
    add_logging_flags(p)
    p.set_defaults(func=cmd_serve)
