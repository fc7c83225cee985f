"""The fetch loop: every source of every node on its interval, concurrent and bounded; the latest readings.

One scheduler thread keeps a heap of (due time, job); due jobs go to a fixed pool of
worker threads, never more in flight than workers, at most one per (node, source).
A failing source backs off exponentially (capped) and keeps its last good value,
which turns stale after its TTL; nothing here is ever awaited by a scheduling
request: :class:`FacilityCollector` is the :class:`joulie.core.facility.FacilityReadings`
the extender reads, a dict lookup per node.

A node's power curve is refreshed on the predictor's interval: computed at once for
``Parametric`` and ``Fake``; for ``V2InferenceProtocol`` eleven predictions at the
node's fresh inlet temperature and ΔP (0 for a source the template does not
configure), through :class:`joulie.facility.v2.V2Predictor`'s cache. Without fresh
inputs there is no new curve, and the old one goes stale.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Protocol

from prometheus_client.core import Metric

from joulie.core.facility import CurveReading, NodeFacility, Quantity, Reading
from joulie.core.power import CURVE_POINTS, PowerCurve
from joulie.facility.deltap import DeltaPRequest, fetch_delta_p
from joulie.facility.errors import FailureKind, FetchError
from joulie.facility.http import BasicAuth, JsonClient
from joulie.facility.metrics import FacilityMetrics, counter, gauge
from joulie.facility.redfish import InletTemperatureReader, RedfishTarget, provided_endpoint
from joulie.facility.targets import Endpoint, NodeTarget, PredictorTarget, Resolution
from joulie.facility.v2 import V2Endpoint, V2Predictor

log = logging.getLogger(__name__)

PROVIDER = "endpointProvider"
MAX_BACKOFF_SECONDS = 300.0
DEFAULT_WORKERS = 16


class SecretSource(Protocol):
    def basic_auth(self, name: str) -> BasicAuth:
        """Credentials of Secret ``name`` (release namespace); :class:`FetchError` (config) if unusable."""
        ...

    def invalidate(self, name: str) -> None:
        """Forget a cached Secret (after an auth failure: it may have been rotated)."""
        ...


class NoSecrets:
    """Where no API server is reachable (snapshot mode): a template needing a Secret cannot be served."""

    def basic_auth(self, name: str) -> BasicAuth:
        raise FetchError(FailureKind.CONFIG, f"basicAuthSecret {name!r}: Secrets are read from the cluster only")

    def invalidate(self, name: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class JobKey:
    node: str
    source: str


@dataclass(slots=True)
class _Job:
    key: JobKey
    target: NodeTarget
    due: float
    failures: int = 0
    in_flight: bool = False
    last_error: str | None = None
    generation: int = 0


@dataclass(frozen=True, slots=True)
class SourceProblem:
    node: str
    source: str
    template: str
    message: str


class FacilityCollector:
    def __init__(
        self,
        secrets: SecretSource | None = None,
        metrics: FacilityMetrics | None = None,
        workers: int = DEFAULT_WORKERS,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secrets: SecretSource = secrets if secrets is not None else NoSecrets()
        self.metrics = metrics if metrics is not None else FacilityMetrics()
        self.workers = max(1, workers)
        self.clock = clock
        self.monotonic = monotonic
        self.http = JsonClient(maxsize=max(4, self.workers))
        self.redfish = InletTemperatureReader()
        self.v2 = V2Predictor(self.http, cache_ttl=60.0)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._targets: dict[str, NodeTarget] = {}
        self._jobs: dict[JobKey, _Job] = {}
        self._heap: list[tuple[float, int, JobKey, int]] = []
        self._seq = itertools.count()
        self._readings: dict[str, NodeFacility] = {}
        self._provided: dict[str, Endpoint] = {}
        self._version = 0
        self._in_flight = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.resolution = Resolution()
        self.metrics.watch(self._state_metrics)  # last: the registry may collect at once

    # ------------------------------------------------------------ FacilityReadings

    @property
    def version(self) -> int:
        return self._version

    def node(self, name: str) -> NodeFacility | None:
        return self._readings.get(name)

    def nodes(self) -> Mapping[str, NodeFacility]:
        with self._lock:
            return dict(self._readings)

    def inlet_temperature(self, node: str, now: float) -> Reading | None:
        facility = self._readings.get(node)
        reading = facility.inlet_temp if facility is not None else None
        return reading if reading is not None and reading.fresh(now) else None

    # ------------------------------------------------------------ targets

    def targets(self) -> Mapping[str, NodeTarget]:
        return self._targets

    def problems(self) -> list[SourceProblem]:
        """The latest error of every source that is failing now (for the templates' status)."""
        with self._lock:
            out = [
                SourceProblem(j.key.node, j.key.source, j.target.template, j.last_error)
                for j in self._jobs.values()
                if j.last_error
            ]
            out += [SourceProblem(t.node, "template", t.template, t.error) for t in self._targets.values() if t.error]
        return sorted(out, key=lambda p: (p.template, p.node, p.source))

    def set_targets(self, resolution: Resolution) -> None:
        """Apply new targets: unchanged sources keep their schedule and readings; removed nodes are forgotten."""
        now = self.monotonic()
        with self._lock:
            self.resolution = resolution
            old = self._targets
            self._targets = dict(resolution.targets)
            for name in set(old) - set(self._targets):
                self._readings.pop(name, None)
                self._provided.pop(name, None)
            for key in [k for k in self._jobs if k.node not in self._targets]:
                del self._jobs[key]
            for name, target in self._targets.items():
                if old.get(name) == target:
                    continue
                self._readings[name] = NodeFacility()  # configured, nothing read yet
                self._provided.pop(name, None)
                for key in [k for k in self._jobs if k.node == name]:
                    del self._jobs[key]
                if target.error:
                    continue
                for source, due in self._sources(target, now):
                    self._schedule(_Job(JobKey(name, source), target, due))
            self._version += 1
            self._wake.notify()

    def _sources(self, target: NodeTarget, now: float) -> Iterator[tuple[str, float]]:
        # Spread the first fetches of many nodes over a second instead of one burst.
        spread = (zlib.crc32(target.node.encode()) % 1000) / 1000.0
        if target.inlet is not None:
            yield Quantity.INLET_TEMP.value, now + spread
        if target.delta_p is not None:
            yield Quantity.DELTA_P.value, now + spread
        p = target.predictor
        if p is not None:
            if p.provider is not None:
                yield PROVIDER, now + spread
            yield Quantity.POWER.value, now + (spread if p.type == "V2InferenceProtocol" else 0.0)

    def _schedule(self, job: _Job) -> None:
        self._jobs[job.key] = job
        job.generation += 1
        heapq.heappush(self._heap, (job.due, next(self._seq), job.key, job.generation))

    # ------------------------------------------------------------ running

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="facility")
        self._thread = threading.Thread(target=self._run, name="facility-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.http.close()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_due(self) -> int:
        """Run every due job in this thread (tests and ``--once``-style use); returns how many ran."""
        ran = 0
        while True:
            with self._lock:
                job = self._pop_due(self.monotonic())
            if job is None:
                return ran
            self._execute(job)
            ran += 1

    def _pop_due(self, now: float) -> _Job | None:
        while self._heap and self._heap[0][0] <= now:
            _, _, key, generation = heapq.heappop(self._heap)
            job = self._jobs.get(key)
            if job is None or job.generation != generation or job.in_flight:
                continue
            job.in_flight = True
            self._in_flight += 1
            return job
        return None

    def _run(self) -> None:
        assert self._pool is not None
        while True:
            with self._lock:
                if self._stopping:
                    return
                job = self._pop_due(self.monotonic()) if self._in_flight < self.workers else None
                if job is None:
                    delay = self._heap[0][0] - self.monotonic() if self._heap else 1.0
                    self._wake.wait(min(1.0, max(0.005, delay)))
                    continue
            try:
                self._pool.submit(self._execute, job)
            except RuntimeError:  # the pool was shut down
                return

    def _execute(self, job: _Job) -> None:
        started = self.monotonic()
        source = job.key.source
        error: FetchError | None = None
        try:
            self._fetch(job)
        except FetchError as exc:
            error = exc
        except Exception as exc:  # a bug or an unexpected library error: count it, keep collecting
            log.exception("facility fetch failed unexpectedly", extra={"node": job.key.node, "source": source})
            error = FetchError(FailureKind.PAYLOAD, f"unexpected error: {type(exc).__name__}")
        elapsed = self.monotonic() - started
        self.metrics.fetch_seconds.labels(source=source).observe(elapsed)
        if error is None:
            self.metrics.fetches.labels(source=source).inc()
        else:
            self.metrics.errors.labels(source=source, reason=error.kind.value).inc()
            if error.kind is FailureKind.AUTH:
                for secret in _secrets_of(job.target, source):
                    self.secrets.invalidate(secret)
        with self._lock:
            self._in_flight -= 1
            job.in_flight = False
            if self._jobs.get(job.key) is not job:
                return  # the target changed while fetching
            interval = _interval(job.target, source)
            if error is None:
                if job.last_error:
                    log.info("facility source recovered", extra={"node": job.key.node, "source": source})
                job.failures, job.last_error = 0, None
                job.due = self.monotonic() + interval
            else:
                job.failures += 1
                if job.last_error != str(error):
                    log.warning(
                        "facility fetch failed",
                        extra={
                            "node": job.key.node,
                            "source": source,
                            "template": job.target.template,
                            "error": str(error),
                        },
                    )
                job.last_error = str(error)
                backoff = interval * 2 ** min(job.failures - 1, 6)
                job.due = self.monotonic() + min(backoff, max(interval, MAX_BACKOFF_SECONDS))
            self._schedule(job)
            self._wake.notify()

    # ------------------------------------------------------------ fetching (worker threads)

    def _auth(self, secret: str | None) -> BasicAuth | None:
        return self.secrets.basic_auth(secret) if secret else None

    def _fetch(self, job: _Job) -> None:
        t, source = job.target, job.key.source
        if source == Quantity.INLET_TEMP.value:
            assert t.inlet is not None
            if t.inlet.type == "Fake":
                value, where = (t.inlet.value if t.inlet.value is not None else 22.0), "fake"
            else:
                ep = t.inlet.endpoint
                assert ep is not None
                target = RedfishTarget(ep.url, ep.timeout, self._auth(ep.secret), ep.tls, t.inlet.sensor_path)
                value, where = self.redfish.read(target)
            self._store(job.key.node, Quantity.INLET_TEMP, value, where, t.inlet.timing.ttl, first_power=True)
        elif source == Quantity.DELTA_P.value:
            assert t.delta_p is not None
            if t.delta_p.type == "Fake":
                value, where = (t.delta_p.value if t.delta_p.value is not None else 0.0), "fake"
            else:
                ep = t.delta_p.endpoint
                assert ep is not None
                req = DeltaPRequest(ep.url, t.delta_p.sensor_node_name, ep.timeout, self._auth(ep.secret), ep.tls)
                value, where = fetch_delta_p(self.http, req)
            self._store(job.key.node, Quantity.DELTA_P, value, where, t.delta_p.timing.ttl, first_power=True)
        elif source == PROVIDER:
            assert t.predictor is not None and t.predictor.provider is not None
            self._provide(job.key.node, t.predictor)
        else:
            assert t.predictor is not None
            self._predict(job.key.node, t, t.predictor)

    def _provide(self, node: str, p: PredictorTarget) -> None:
        assert p.provider is not None
        ep = p.provider.endpoint
        if p.provider.type == "Fake":
            url = ep.url
        else:
            url, _ = provided_endpoint(RedfishTarget(ep.url, ep.timeout, self._auth(ep.secret), ep.tls))
        provided = Endpoint(url, p.secret, p.endpoint.tls if p.endpoint else ep.tls, p.timing.timeout)
        with self._lock:
            changed = self._provided.get(node) != provided
            self._provided[node] = provided
            power = self._jobs.get(JobKey(node, Quantity.POWER.value))
            if changed and power is not None and not power.in_flight:
                power.due = self.monotonic()
                self._schedule(power)

    def _predict(self, node: str, t: NodeTarget, p: PredictorTarget) -> None:
        now = self.clock()
        if p.type == "Fake":
            watts = p.value if p.value is not None else 0.0
            self._store_curve(node, PowerCurve((watts,) * CURVE_POINTS), now, float("inf"), "fake")
            return
        if p.model is not None and (p.type == "Parametric" or (p.type is None and p.provider is None)):
            self._store_curve(node, p.model.curve(p.gpus), now, float("inf"), "parametric")
            return
        endpoint = p.endpoint if p.endpoint is not None else self._provided.get(node)
        if endpoint is None:
            raise FetchError(FailureKind.CONFIG, "waiting for the endpoint provider to supply a predictor endpoint")
        facility = self._readings.get(node) or NodeFacility()
        inputs = []
        used: list[Quantity] = []
        for quantity, configured, reading in (
            (Quantity.INLET_TEMP, t.inlet is not None, facility.inlet_temp),
            (Quantity.DELTA_P, t.delta_p is not None, facility.delta_p),
        ):
            if not configured:
                inputs.append(0.0)
            elif reading is None or not reading.fresh(now):
                raise FetchError(FailureKind.CONFIG, f"no fresh {quantity.value} to predict from")
            else:
                inputs.append(reading.value)
                used.append(quantity)
        ep = V2Endpoint(endpoint.url, endpoint.timeout, self._auth(endpoint.secret), endpoint.tls)
        points = tuple(
            self.v2.predict(ep, 10.0 * i, inputs[0], inputs[1], on_call=self.metrics.predictions.inc)
            for i in range(CURVE_POINTS)
        )
        self._store_curve(node, PowerCurve(points), now, now + p.timing.ttl, f"v2:{endpoint.url}", tuple(used))

    def _store(self, node: str, quantity: Quantity, value: float, where: str, ttl: float, first_power: bool) -> None:
        now = self.clock()
        reading = Reading(value, now, now + ttl, where)
        with self._lock:
            if node not in self._targets:
                return
            old = self._readings.get(node) or NodeFacility()
            had = old.inlet_temp if quantity is Quantity.INLET_TEMP else old.delta_p
            new = replace(old, inlet_temp=reading) if quantity is Quantity.INLET_TEMP else replace(old, delta_p=reading)
            self._readings[node] = new
            if had is None or not had.fresh(now):
                self._version += 1  # freshness changed; a refresh of a fresh value changes no decision
            power = self._jobs.get(JobKey(node, Quantity.POWER.value))
            if first_power and (had is None or not had.fresh(now)) and power is not None and not power.in_flight:
                power.due = self.monotonic()  # inputs just became available: predict now
                self._schedule(power)
                self._wake.notify()

    def _store_curve(
        self, node: str, curve: PowerCurve, now: float, stale_at: float, where: str, inputs: tuple[Quantity, ...] = ()
    ) -> None:
        with self._lock:
            if node not in self._targets:
                return
            old = self._readings.get(node) or NodeFacility()
            self._readings[node] = replace(old, power=CurveReading(curve, now, stale_at, where, inputs))
            if old.power is None or old.power.curve != curve or not old.power.fresh(now):
                self._version += 1

    # ------------------------------------------------------------ metrics at scrape time

    def _state_metrics(self) -> Iterator[Metric]:
        now = self.clock()
        nodes = gauge(
            "joulie_facility_nodes",
            "Configured nodes per source and state (fresh, stale, missing: never read).",
            ["source", "state"],
        )
        age = gauge("joulie_facility_reading_age_seconds", "Age of the oldest reading, by source.", ["source"])
        counts: dict[tuple[str, str], int] = {}
        oldest: dict[str, float] = {}
        with self._lock:
            targets = list(self._targets.values())
            readings = dict(self._readings)
        for t in targets:
            f = readings.get(t.node) or NodeFacility()
            for source, configured, r in (
                (Quantity.INLET_TEMP.value, t.inlet is not None, f.inlet_temp),
                (Quantity.DELTA_P.value, t.delta_p is not None, f.delta_p),
                (Quantity.POWER.value, t.predictor is not None, f.power),
            ):
                if not configured:
                    continue
                state = "missing" if r is None else ("fresh" if r.fresh(now) else "stale")
                counts[source, state] = counts.get((source, state), 0) + 1
                if r is not None:
                    oldest[source] = max(oldest.get(source, 0.0), now - r.observed_at)
        for (source, state), n in sorted(counts.items()):
            nodes.add_metric([source, state], n)
        for source, seconds in sorted(oldest.items()):
            age.add_metric([source], seconds)
        cache = counter("joulie_facility_predictor_cache", "V2 predictions answered from the cache or not.", ["result"])
        cache.add_metric(["hit"], self.v2.hits)
        cache.add_metric(["miss"], self.v2.misses)
        yield nodes
        yield age
        yield cache


def _interval(t: NodeTarget, source: str) -> float:
    if source == Quantity.INLET_TEMP.value and t.inlet is not None:
        return t.inlet.timing.interval
    if source == Quantity.DELTA_P.value and t.delta_p is not None:
        return t.delta_p.timing.interval
    if source == PROVIDER and t.predictor is not None and t.predictor.provider is not None:
        return t.predictor.provider.interval
    assert t.predictor is not None
    return t.predictor.timing.interval


def _secrets_of(t: NodeTarget, source: str) -> list[str]:
    eps: list[Endpoint | None] = []
    if source == Quantity.INLET_TEMP.value and t.inlet is not None:
        eps.append(t.inlet.endpoint)
    elif source == Quantity.DELTA_P.value and t.delta_p is not None:
        eps.append(t.delta_p.endpoint)
    elif source == PROVIDER and t.predictor is not None and t.predictor.provider is not None:
        eps.append(t.predictor.provider.endpoint)
    elif t.predictor is not None:
        eps.append(t.predictor.endpoint)
        if t.predictor.secret:
            return [t.predictor.secret]
    return [e.secret for e in eps if e is not None and e.secret]
