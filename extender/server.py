"""``joulie serve``: the extender and the labeller loop in one process.

The labeller runtime (a live cluster via :mod:`labeller.kube.run`, or a snapshot
file) keeps the caches and the plan; uvicorn serves the routes of
:mod:`extender.app` from them. One worker: the caches live in this process, and
the scheduler calls serially anyway. SIGTERM drains in-flight requests, then
stops the runtime (and with it the leader lease).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

import uvicorn

from extender.app import create_app
from extender.service import ExtenderService
from joulie.cliutil import ConfigError, planner_config
from joulie.logs import setup_logging
from labeller.config import PlannerConfig
from labeller.planner import Planner
from labeller.runtime import LabellerRuntime, SnapshotRuntime
from labeller.snapshot import load_snapshot

log = logging.getLogger(__name__)


def build_runtime(args: argparse.Namespace, config: PlannerConfig) -> LabellerRuntime:
    """A snapshot runtime for ``--snapshot``/``--example``, else the live-cluster one."""
    if args.example:
        from labeller.cli import example_snapshot_path

        args.snapshot = example_snapshot_path()
    if args.snapshot:
        snap = load_snapshot(args.snapshot)
        return SnapshotRuntime(snap.store, snap.profiles, Planner(config))
    # Imported lazily: snapshot mode needs no kubernetes client.
    from labeller.kube.client import build_api_client
    from labeller.kube.run import build_runtime as build_kube_runtime

    return build_kube_runtime(args, config, build_api_client(args.kubeconfig, args.context))


def cmd_serve(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    if args.once:
        raise ConfigError("--once is for `joulie labeller`; `joulie serve` runs until stopped")
    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be 1..65535, got {args.port}")
    if args.max_body_bytes < 1024:
        raise ConfigError(f"--max-body-bytes must be at least 1024, got {args.max_body_bytes}")
    if args.assumed_ttl <= 0:
        raise ConfigError(f"--assumed-ttl must be positive, got {args.assumed_ttl}")
    runtime = build_runtime(args, planner_config(args))

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        yield
        # Runs after uvicorn drained in-flight requests and before it re-raises
        # SIGTERM: the runtime (watches, leader lease) is released in order.
        await asyncio.to_thread(runtime.stop)
        log.info("stopped")

    app = create_app(
        runtime,
        url_prefix=args.url_prefix,
        max_body_bytes=args.max_body_bytes,
        service=ExtenderService(runtime, assumed_ttl_seconds=args.assumed_ttl),
        lifespan=lifespan,
    )
    server = uvicorn.Server(uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        access_log=args.access_log,
        log_config=None,  # our JSON logging (root handler) formats uvicorn's records too
        lifespan="on",
        timeout_graceful_shutdown=args.shutdown_grace,
        timeout_keep_alive=30,  # the scheduler reuses its connection between pods
    ))
    runtime.start()
    # Move what is loaded so far (caches, plan) out of the collector's view: a full
    # collection then no longer walks it, which would otherwise show as p99 spikes.
    gc.collect()
    gc.freeze()
    log.info("serving", extra={"host": args.host, "port": args.port, "urlPrefix": args.url_prefix,
                               "mode": "snapshot" if args.snapshot else "cluster"})
    server.run()
    return 0 if server.started else 1
