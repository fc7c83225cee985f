"""HTTP routes of ``joulie serve``: thin adapters around :class:`extender.service.ExtenderService`.

Routes (each also under the URL prefix, ``/scheduler`` by default, so the
scheduler's ``urlPrefix`` can point at either):

- ``POST /filter``, ``POST /prioritize``: the kube-scheduler extender verbs;
- ``GET /plan`` (``?node=NAME`` to narrow): the labeller's latest plan with reasons, as JSON; a
  browser (``Accept`` preferring ``text/html``) gets the live page of :mod:`extender.plan_page`;
- ``GET /``: that page, wherever ``/plan`` is served;
- ``GET /healthz``, ``GET /readyz``, ``GET /metrics``.

The extender routes are plain Starlette endpoints on the raw body (no FastAPI
model validation of Node objects: only names and labels matter). Parsing and
deciding run on one dedicated worker thread: a 30 MB full-mode body costs tens of
milliseconds of CPU, and the event loop must keep answering ``/healthz`` meanwhile.
Bad input is answered 400 (malformed JSON, missing ``Pod``) or 413 (body over the
limit); the scheduler treats either as an extender error and, with ``ignorable:
true``, schedules without us. Nothing a client sends may crash the process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from extender.limits import BodyLimits, BodyTimeout, BodyTooLarge, Busy, InflightBytes, request_body
from extender.plan_page import plan_page, prefers_html
from extender.service import ExtenderService, FilterAnswer, LabellerView
from extender.settings import ServeSettings
from extender.wire import BadRequest, error_body, parse_args

log = logging.getLogger(__name__)

JSON = "application/json"


def normalise_prefix(prefix: str | None) -> str:
    p = (prefix or "").strip().rstrip("/")
    if p and not p.startswith("/"):
        p = "/" + p
    return p


def create_app(
    runtime: LabellerView,
    url_prefix: str | None = None,
    max_body_bytes: int | None = None,
    service: ExtenderService | None = None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    registry: CollectorRegistry | None = None,
    settings: ServeSettings | None = None,
    plan_route: bool = True,
) -> FastAPI:
    """The app. ``settings`` gives the limits (``url_prefix`` and ``max_body_bytes`` override them);
    ``registry`` is what ``/metrics`` renders (default: the service's metrics registry); without
    ``plan_route`` neither ``/plan`` nor its page (``/``) is served here (they have a port of their own)."""
    settings = settings or ServeSettings()
    if url_prefix is None:
        url_prefix = settings.url_prefix
    limits = BodyLimits(
        max_body_bytes if max_body_bytes is not None else settings.max_body_bytes,
        settings.body_timeout_seconds,
        InflightBytes(settings.max_inflight_bytes),
    )
    svc = service or ExtenderService(runtime)
    metrics = svc.metrics
    rendered = registry if registry is not None else metrics.registry
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extender")

    @asynccontextmanager
    async def own_lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            worker.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="Joulie", docs_url=None, redoc_url=None, openapi_url=None, lifespan=own_lifespan)
    app.state.service = svc
    app.state.runtime = runtime

    def error(code: int, verb: str, message: str, started: float) -> Response:
        metrics.requests.labels(verb=verb, code=str(code)).inc()
        metrics.request_seconds.labels(verb=verb).observe(time.perf_counter() - started)
        return Response(error_body(message), status_code=code, media_type=JSON)

    def extender_route(
        verb: str, answer: Callable[[bytes], tuple[bytes, BackgroundTask | None]]
    ) -> Callable[[Request], Awaitable[Response]]:
        latency = metrics.request_seconds.labels(verb=verb)
        ok = metrics.requests.labels(verb=verb, code="200")

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                async with request_body(request, limits) as body:
                    reply, background = await asyncio.get_running_loop().run_in_executor(worker, answer, body)
            except BadRequest as exc:
                return error(400, verb, str(exc), started)
            except BodyTooLarge as exc:
                return error(413, verb, str(exc), started)
            except BodyTimeout as exc:
                return error(408, verb, str(exc), started)
            except Busy as exc:
                return error(503, verb, str(exc), started)
            except Exception:  # a bug of ours; log it, keep serving
                log.exception("%s failed", verb)
                return error(500, verb, f"internal error in {verb}; see the joulie log", started)
            ok.inc()
            latency.observe(time.perf_counter() - started)
            return Response(reply, media_type=JSON, background=background)

        return endpoint

    def do_filter(body: bytes) -> tuple[bytes, BackgroundTask | None]:
        ans: FilterAnswer = svc.filter(parse_args(body))
        # The labeller hears of it after the reply is sent (in a worker thread): the
        # scheduler is not kept waiting, and the pod's retry finds the promotion.
        return ans.body, (BackgroundTask(runtime.unplaceable, ans.unplaceable) if ans.unplaceable else None)

    def do_prioritize(body: bytes) -> tuple[bytes, BackgroundTask | None]:
        return svc.prioritize(parse_args(body)), None

    page = plan_page()

    async def plan_page_route(_: Request) -> Response:
        return Response(page.body, media_type=page.media_type, headers=dict(page.headers))

    async def plan(request: Request) -> Response:
        if prefers_html(request.headers.get("accept")):
            return await plan_page_route(request)
        code, body = svc.plan_view([n for n in request.query_params.getlist("node") if n])
        return Response(body, status_code=code, media_type=JSON, headers={"Vary": "Accept"})

    async def healthz(_: Request) -> Response:
        ok, why = runtime.healthy()
        return Response(why or "ok", status_code=200 if ok else 503, media_type="text/plain")

    async def readyz(_: Request) -> Response:
        ok, why = runtime.ready()
        return Response(why or "ready", status_code=200 if ok else 503, media_type="text/plain")

    async def metrics_route(_: Request) -> Response:
        return Response(generate_latest(rendered), media_type=CONTENT_TYPE_LATEST)

    routes = [
        ("/filter", extender_route("filter", do_filter), ["POST"]),
        ("/prioritize", extender_route("prioritize", do_prioritize), ["POST"]),
        *([("/plan", plan, ["GET"]), ("/", plan_page_route, ["GET"])] if plan_route else []),
        ("/healthz", healthz, ["GET"]),
        ("/readyz", readyz, ["GET"]),
        ("/metrics", metrics_route, ["GET"]),
    ]
    prefix = normalise_prefix(url_prefix)
    for base in [""] + ([prefix] if prefix else []):
        for path, endpoint, methods in routes:
            app.router.add_route(base + path, endpoint, methods=methods, include_in_schema=False)
    return app
