"""The performance figure of ``performancePowerRatio``: polled in the background from each policy's
``performanceSource`` (a Prometheus instant query, or a number in an HTTP JSON document).

The reconcile never waits on the network: it reads the latest figure of each policy
(:meth:`PerformancePoller.figures`), which counts only while younger than the policy's
``telemetry.staleAfterSeconds``. A source that fails or answers something that is not one
number leaves no figure, and the policy says why (condition ``PerformanceFresh``); without a
figure the controller keeps the share of the budget it hands out where it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from joulie.api.v1alpha1 import PerformanceSource
from joulie.facility.errors import FailureKind, FetchError
from joulie.facility.http import JsonClient, number
from labeller.budgets.controller import DEFAULT_STALE_AFTER, PerformanceFigure
from labeller.budgets.source import PolicyCache

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 15.0


def fetch_figure(client: JsonClient, source: PerformanceSource) -> float:
    """One number from ``source``; :class:`FetchError` saying what was wrong otherwise."""
    if source.type == "prometheus":
        if not source.query:
            raise FetchError(FailureKind.CONFIG, "performanceSource.query is required for type prometheus")
        url = f"{source.endpoint.rstrip('/')}/api/v1/query?{urlencode({'query': source.query})}"
        status, raw = client.request("GET", url, timeout=source.timeout_seconds)
        if status in (400, 422):  # Prometheus refused the query: its own words, not an HTTP code
            try:
                error = orjson.loads(raw).get("error")
            except (orjson.JSONDecodeError, AttributeError):
                error = None
            if error:
                raise FetchError(FailureKind.CONFIG, f"query {source.query!r} failed: {error}")
        if not 200 <= status < 300:
            raise FetchError(FailureKind.HTTP, f"GET {url}: HTTP {status}")
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise FetchError(FailureKind.PAYLOAD, f"GET {url}: not JSON") from None
        return _prometheus_value(doc, source.query)
    doc = client.json("GET", source.endpoint, timeout=source.timeout_seconds)
    return _field(doc, source.field, source.endpoint)


def _prometheus_value(doc: Any, query: str) -> float:
    if not isinstance(doc, dict) or doc.get("status") != "success":
        error = doc.get("error") if isinstance(doc, dict) else None
        raise FetchError(FailureKind.PAYLOAD, f"query {query!r} failed: {error or 'not a Prometheus answer'}")
    data = doc.get("data")
    if not isinstance(data, dict):
        data = {}
    kind, result = data.get("resultType"), data.get("result")
    sample: Any = None
    if kind == "scalar":
        sample = result
    elif kind == "vector" and isinstance(result, list):
        if len(result) != 1:
            raise FetchError(
                FailureKind.PAYLOAD, f"query {query!r} returned {len(result)} series; it must return one number"
            )
        sample = result[0].get("value") if isinstance(result[0], dict) else None
    else:
        raise FetchError(FailureKind.PAYLOAD, f"query {query!r} returned a {kind}; it must return one number")
    try:
        value = float(sample[1])
    except (TypeError, ValueError, IndexError):
        raise FetchError(FailureKind.PAYLOAD, f"query {query!r}: no number in {sample!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise FetchError(FailureKind.PAYLOAD, f"query {query!r} returned {value}")
    return value


def _field(doc: Any, path: str | None, where: str) -> float:
    value = doc
    for part in (path or "").split(".") if path else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise FetchError(FailureKind.PAYLOAD, f"{where}: no field {path!r} in the document")
    got = number(value)
    if got is None:
        raise FetchError(FailureKind.PAYLOAD, f"{where}: field {path or '(the document)'!r} is not a number")
    return got


@dataclass(frozen=True, slots=True)
class _Sample:
    value: float | None
    at: float
    problem: str | None


class PerformancePoller:
    """Fetches every policy's ``performanceSource`` every ``interval`` seconds on one thread."""

    def __init__(
        self,
        policies: PolicyCache,
        *,
        interval: float = DEFAULT_POLL_SECONDS,
        client: JsonClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policies = policies
        self.interval = interval
        self.client = client or JsonClient()
        self.clock = clock
        self._samples: dict[str, _Sample] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        """Fetch each source once (sequentially: a handful of policies, each with a timeout)."""
        wanted = {
            v.name: v.spec.performance_source for v in self.policies.items() if v.spec and v.spec.performance_source
        }
        for name, source in wanted.items():
            now = self.clock()
            try:
                sample = _Sample(fetch_figure(self.client, source), now, None)
            except FetchError as exc:
                log.warning("performance source of %s: %s", name, exc, extra={"policy": name})
                sample = _Sample(None, now, str(exc))
            with self._lock:
                self._samples[name] = sample
        with self._lock:
            for gone in set(self._samples) - set(wanted):
                del self._samples[gone]

    def figures(self, now: float) -> Mapping[str, PerformanceFigure]:
        """The latest figure of each policy with a source; a value only while fresh."""
        ages = {
            v.name: v.spec.telemetry.stale_after_seconds if v.spec and v.spec.telemetry else DEFAULT_STALE_AFTER
            for v in self.policies.items()
        }
        out: dict[str, PerformanceFigure] = {}
        with self._lock:
            samples = dict(self._samples)
        for name, s in samples.items():
            limit = ages.get(name, DEFAULT_STALE_AFTER)
            if s.value is not None and now - s.at <= limit:
                out[name] = PerformanceFigure(s.value, None)
            elif s.value is not None:
                out[name] = PerformanceFigure(None, f"the last figure is {now - s.at:.0f}s old (limit {limit:g}s)")
            else:
                out[name] = PerformanceFigure(None, s.problem)
        return out

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="budget-performance", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("performance poll failed")
            self._stop.wait(self.interval)
