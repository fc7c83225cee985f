"""Basic-auth credentials from Secrets in the release namespace, read on demand and cached briefly.

``GET /api/v1/namespaces/{namespace}/secrets/{name}`` with the serve account's
namespaced Role (``get`` on the Secrets the chart lists): no list or watch of
Secrets, no ClusterRole on them. The values live only in :class:`BasicAuth`
objects, whose ``repr`` hides the password; nothing here logs them.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable

from cachetools import TTLCache
from kubernetes import client as k8s

from joulie.facility.errors import FailureKind, FetchError
from joulie.facility.http import BasicAuth
from joulie.kube.client import ApiError, request_json

SECRET_TTL_SECONDS = 60.0
"""A rotated password is picked up within this, or at once after an auth failure."""


class KubeSecrets:
    def __init__(
        self,
        api: k8s.ApiClient,
        namespace: str,
        ttl_seconds: float = SECRET_TTL_SECONDS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self._cache: TTLCache[str, BasicAuth] = TTLCache(maxsize=1024, ttl=ttl_seconds, timer=timer)
        self._lock = threading.Lock()

    def basic_auth(self, name: str) -> BasicAuth:
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None:
            return hit
        path = f"/api/v1/namespaces/{self.namespace}/secrets/{name}"
        try:
            secret = request_json(self.api, "GET", path)
        except ApiError as exc:
            if exc.status == 404:
                why = f"Secret {self.namespace}/{name} not found"
            elif exc.status == 403:
                why = f"not allowed to read Secret {self.namespace}/{name} (list it in the chart's serve.facilityTelemetry.secretNames)"
            else:
                why = f"cannot read Secret {self.namespace}/{name}: HTTP {exc.status} {exc.reason}"
            raise FetchError(FailureKind.CONFIG, why) from None
        data = secret.get("data") if isinstance(secret, dict) else None
        auth = _credentials(data if isinstance(data, dict) else {}, f"{self.namespace}/{name}")
        with self._lock:
            self._cache[name] = auth
        return auth

    def invalidate(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)


def _credentials(data: dict[str, object], where: str) -> BasicAuth:
    values = {}
    for key in ("username", "password"):
        raw = data.get(key)
        if not isinstance(raw, str):
            raise FetchError(FailureKind.CONFIG, f"Secret {where} has no {key!r} key")
        try:
            values[key] = base64.b64decode(raw, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise FetchError(FailureKind.CONFIG, f"Secret {where}: {key!r} is not base64-encoded UTF-8") from None
    return BasicAuth(values["username"], values["password"])
