"""Measured CPU usage of every node from the resource metrics API (metrics-server), polled in the background.

``GET /apis/metrics.k8s.io/v1beta1/nodes`` every ``interval`` seconds; each node's
``usage.cpu`` becomes a :class:`joulie.core.facility.Reading` (millicores) stale after
``ttl``. This is the "measured usage" the power-aware score starts from (WAO reads the
same metric); where it is missing or stale the score falls back to the CPU requested
by the node's running pods. A cluster without metrics-server answers 404 or 503: that
is logged once and retried, never fatal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client as k8s

from joulie.core.facility import Reading
from joulie.core.model import cpu_millis
from joulie.facility.metrics import FacilityMetrics
from joulie.jsonutil import obj as _obj
from joulie.kube.client import ApiError, request_json

log = logging.getLogger(__name__)

NODE_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/nodes"
SOURCE = "nodeUsage"


def parse_node_metrics(body: Any, now: float, ttl: float) -> dict[str, Reading]:
    """name -> CPU usage reading (millicores) of a ``NodeMetricsList``; malformed items are skipped."""
    out: dict[str, Reading] = {}
    items = body.get("items") if isinstance(body, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        name = _obj(item.get("metadata")).get("name")
        cpu = _obj(item.get("usage")).get("cpu")
        if not isinstance(name, str) or not name or cpu is None:
            continue
        out[name] = Reading(float(cpu_millis(cpu)), now, now + ttl, "metrics.k8s.io")
    return out


class NodeUsage:
    """The latest measured CPU usage per node; ``version`` bumps with every successful poll."""

    def __init__(
        self,
        api: k8s.ApiClient,
        metrics: FacilityMetrics | None = None,
        interval: float = 15.0,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.metrics = metrics if metrics is not None else FacilityMetrics()
        self.interval = interval
        self.ttl = ttl
        self.clock = clock
        self._usage: Mapping[str, Reading] = {}
        self.version = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def cpu_usage_millis(self, node: str, now: float) -> float | None:
        r = self._usage.get(node)
        return r.value if r is not None and r.fresh(now) else None

    def poll_once(self) -> bool:
        started = time.monotonic()
        try:
            body = request_json(self.api, "GET", NODE_METRICS_PATH, timeout=(5.0, 10.0))
        except ApiError as exc:
            self.metrics.fetch_seconds.labels(source=SOURCE).observe(time.monotonic() - started)
            reason = "missing-sensor" if exc.status in (404, 503) else ("auth" if exc.status in (401, 403) else "http")
            if exc.status == 0:
                reason = "unreachable"
            self.metrics.errors.labels(source=SOURCE, reason=reason).inc()
            message = str(exc)
            if message != self.last_error:
                log.warning(
                    "node usage unavailable (is metrics-server installed?); scoring from pod requests",
                    extra={"error": message},
                )
            self.last_error = message
            return False
        self.metrics.fetch_seconds.labels(source=SOURCE).observe(time.monotonic() - started)
        self._usage = parse_node_metrics(body, self.clock(), self.ttl)
        self.metrics.fetches.labels(source=SOURCE).inc()
        self.version += 1
        if self.last_error is not None:
            log.info("node usage available again", extra={"nodes": len(self._usage)})
        self.last_error = None
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="node-usage", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a bug must not stop the poller
                log.exception("polling node usage failed")
            self._stop.wait(self.interval)
