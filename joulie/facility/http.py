"""The HTTP client of the JSON collectors (ΔP API, V2 predictors): timeouts, TLS, basic auth, errors.

urllib3 (already the Kubernetes client's transport): one pool manager per TLS
configuration, no retries (the collector loop is the retry), a total timeout per
request, and every failure mapped to a :class:`FailureKind`. Redfish goes through
DMTF's client library instead (:mod:`joulie.facility.redfish`).
"""

from __future__ import annotations

import base64
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import certifi
import orjson
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
    TimeoutError,
)

from joulie.facility.errors import FailureKind, FetchError

USER_AGENT = "joulie-facility"
MAX_BODY_BYTES = 4 * 1024 * 1024
"""A sensor reading or a prediction is a few hundred bytes; anything this large is not one."""


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Credentials from a Secret; ``repr`` and ``str`` never show the password."""

    username: str
    password: str

    def header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Tls:
    """How to verify an https endpoint: system (certifi) CAs, a PEM bundle, or not at all."""

    ca_bundle: str | None = None
    insecure_skip_verify: bool = False

    def context(self) -> ssl.SSLContext:
        if self.insecure_skip_verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        if self.ca_bundle:
            try:
                return ssl.create_default_context(cadata=self.ca_bundle)
            except (ssl.SSLError, ValueError) as exc:
                raise FetchError(FailureKind.CONFIG, f"tls.caBundle is not a PEM certificate bundle: {exc}") from None
        return ssl.create_default_context(cafile=certifi.where())


NO_TLS = Tls()


class JsonClient:
    """GET/POST JSON with a timeout; thread-safe (urllib3 pools are)."""

    def __init__(self, maxsize: int = 4) -> None:
        self._maxsize = maxsize
        self._pools: dict[Tls, urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def _pool(self, tls: Tls) -> urllib3.PoolManager:
        pool = self._pools.get(tls)
        if pool is None:
            with self._lock:
                pool = self._pools.get(tls)
                if pool is None:
                    pool = self._pools[tls] = urllib3.PoolManager(
                        num_pools=64, maxsize=self._maxsize, retries=False, ssl_context=tls.context()
                    )
        return pool

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        body: Any = None,
        auth: BasicAuth | None = None,
        tls: Tls = NO_TLS,
    ) -> tuple[int, bytes]:
        """(status, body) of one request; raises :class:`FetchError` for transport failures only."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        if auth is not None:
            headers["Authorization"] = auth.header()
        try:
            resp = self._pool(tls).request(
                method,
                url,
                body=data,
                headers=headers,
                timeout=urllib3.Timeout(total=timeout),
                preload_content=False,
                redirect=False,
            )
            try:
                raw = resp.read(MAX_BODY_BYTES + 1)
            finally:
                resp.release_conn()
        except (
            NewConnectionError,
            MaxRetryError,
            SSLError,
            ReadTimeoutError,
            TimeoutError,
            ProtocolError,
            HTTPError,
            OSError,
        ) as exc:
            raise _transport_error(exc, method, url, timeout) from None
        if len(raw) > MAX_BODY_BYTES:
            raise FetchError(FailureKind.PAYLOAD, f"{method} {url}: answer larger than {MAX_BODY_BYTES} bytes")
        return resp.status, raw

    def json(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        body: Any = None,
        auth: BasicAuth | None = None,
        tls: Tls = NO_TLS,
        not_found: FailureKind = FailureKind.HTTP,
    ) -> Any:
        """The decoded JSON of a 2xx answer; every other outcome is a :class:`FetchError`."""
        status, raw = self.request(method, url, timeout=timeout, body=body, auth=auth, tls=tls)
        if status in (401, 403):
            raise FetchError(FailureKind.AUTH, f"{method} {url}: HTTP {status} (check basicAuthSecret)")
        if status == 404:
            raise FetchError(not_found, f"{method} {url}: HTTP 404 {_excerpt(raw)}")
        if not 200 <= status < 300:
            raise FetchError(FailureKind.HTTP, f"{method} {url}: HTTP {status} {_excerpt(raw)}")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise FetchError(FailureKind.PAYLOAD, f"{method} {url}: not JSON: {_excerpt(raw)}") from None

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
            self._pools.clear()


def _transport_error(exc: BaseException, method: str, url: str, timeout: float) -> FetchError:
    reason = exc.reason if isinstance(exc, MaxRetryError) and exc.reason is not None else exc
    # urllib3 2 makes NewConnectionError a ConnectTimeoutError: a refused connection is no timeout
    if isinstance(reason, NewConnectionError):
        return FetchError(FailureKind.UNREACHABLE, f"{method} {url}: cannot connect: {reason}")
    if isinstance(reason, SSLError):
        return FetchError(FailureKind.UNREACHABLE, f"{method} {url}: TLS failed: {reason}")
    if isinstance(reason, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)):
        return FetchError(FailureKind.TIMEOUT, f"{method} {url}: no answer within {timeout:g}s")
    return FetchError(FailureKind.UNREACHABLE, f"{method} {url}: {reason}")


def _excerpt(raw: bytes, limit: int = 120) -> str:
    text = raw[:limit].decode("utf-8", "replace").strip()
    return repr(text + ("..." if len(raw) > limit else ""))


def number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if f == f and f not in (float("inf"), float("-inf")) else None
