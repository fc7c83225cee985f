"""Power predictions over the V2 / Open Inference Protocol, cached per input.

``POST {endpoint}`` (``.../v2/models/{model}[/versions/{v}]/infer``) with one FP32
input of shape ``[1, 3]``: ``[[cpuUsagePct, inletTempC, deltaP]]``; the watts are
``outputs[0].data[0]`` (FP32 or FP64: the sklearn runtime answers FP64). MLServer
answers an unknown model with 404 ``{"error": ...}`` and a malformed input with a
plain-text 500: both are errors here, never a value.

A curve needs eleven predictions (0 %, 10 %, ..., 100 % load) at the node's current
inlet temperature and ΔP; nodes in one rack share those inputs, so every answer is
cached per (endpoint, rounded inputs) for the curve's TTL and reused across nodes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from joulie.facility.errors import FailureKind, FetchError
from joulie.facility.http import BasicAuth, JsonClient, Tls, number

INPUT_NAME = "input-0"
ROUND_DIGITS = 1
"""Inputs are rounded to 0.1 (degrees, pascals, percent) for the cache: finer differences are sensor noise."""


@dataclass(frozen=True, slots=True)
class V2Endpoint:
    url: str
    timeout: float
    auth: BasicAuth | None
    tls: Tls


def infer_body(cpu_pct: float, inlet_c: float, delta_p: float) -> dict[str, Any]:
    return {"inputs": [{"name": INPUT_NAME, "shape": [1, 3], "datatype": "FP32", "data": [cpu_pct, inlet_c, delta_p]}]}


def parse_watts(body: Any, url: str) -> float:
    outputs = body.get("outputs") if isinstance(body, dict) else None
    if not isinstance(outputs, list) or not outputs or not isinstance(outputs[0], dict):
        raise FetchError(FailureKind.PAYLOAD, f"POST {url}: no outputs in the answer")
    data = outputs[0].get("data")
    while isinstance(data, list) and data and isinstance(data[0], list):  # a nested [[w]] tensor
        data = data[0]
    value = number(data[0]) if isinstance(data, list) and data else None
    if value is None or value < 0:
        raise FetchError(FailureKind.PAYLOAD, f"POST {url}: outputs[0].data[0] is not a non-negative number")
    return value


class V2Predictor:
    """Thread-safe; :meth:`predict` blocks on the network, so only the collector's workers call it."""

    def __init__(self, client: JsonClient, cache_ttl: float, maxsize: int = 100_000) -> None:
        self.client = client
        self._cache: TTLCache[tuple[str, float, float, float], float] = TTLCache(maxsize=maxsize, ttl=cache_ttl)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def predict(
        self, ep: V2Endpoint, cpu_pct: float, inlet_c: float, delta_p: float, on_call: Callable[[], None] | None = None
    ) -> float:
        key = (ep.url, round(cpu_pct, ROUND_DIGITS), round(inlet_c, ROUND_DIGITS), round(delta_p, ROUND_DIGITS))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self.hits += 1
                return hit
            self.misses += 1
        if on_call is not None:
            on_call()
        body = self.client.json(
            "POST",
            ep.url,
            timeout=ep.timeout,
            body=infer_body(*key[1:]),
            auth=ep.auth,
            tls=ep.tls,
            not_found=FailureKind.MISSING_SENSOR,
        )
        watts = parse_watts(body, ep.url)
        with self._lock:
            self._cache[key] = watts
        return watts


def model_endpoint(url: str, name: str, version: str | None) -> str:
    """The infer URL of a model served at ``url`` (what the endpoint provider builds)."""
    base = url.rstrip("/")
    path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"
    return base + path
