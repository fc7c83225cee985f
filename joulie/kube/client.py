"""Connection to the API server: configuration loading and raw-JSON requests.

The official client provides transport, authentication (tokens, exec plugins,
client certificates, in-cluster service accounts) and TLS. Its generated models are
deliberately bypassed: deserialising 150k pods into model objects costs minutes and
gigabytes, while ``orjson`` on the raw bytes, reduced at once to compact records by
the store, costs seconds. Every request here therefore asks for the undecoded
response and parses it itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from joulie import jsonutil
from joulie.api.v1alpha1 import API_VERSION, NPP_PLURAL, PCP_PLURAL
from joulie.errors import ConfigError

log = logging.getLogger(__name__)

NODES_PATH = "/api/v1/nodes"
PODS_PATH = "/api/v1/pods"
NPP_PATH = f"/apis/{API_VERSION}/{NPP_PLURAL}"
PCP_PATH = f"/apis/{API_VERSION}/{PCP_PLURAL}"

DEFAULT_TIMEOUT = (5.0, 30.0)
"""(connect, read) seconds for ordinary requests; watches set their own read timeout."""


class KubeConfigError(ConfigError):
    """No usable cluster configuration: the message says what was tried."""


class ApiError(Exception):
    """The API server answered with an error status, or could not be reached (status 0)."""

    def __init__(self, status: int, reason: str, message: str = "", body: Mapping[str, Any] | None = None) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.body = dict(body or {})
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")

    @property
    def unreachable(self) -> bool:
        return self.status == 0


def build_api_client(kubeconfig: str | None = None, context: str | None = None) -> k8s.ApiClient:
    """An ``ApiClient`` from ``kubeconfig``/``context``, else in-cluster config, else ``~/.kube/config``."""
    configuration = k8s.Configuration()
    tried: list[str] = []
    if kubeconfig:
        try:
            k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            raise KubeConfigError(f"cannot load kubeconfig {kubeconfig!r}: {exc}") from None
        return k8s.ApiClient(configuration)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not context:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
            return k8s.ApiClient(configuration)
        except ConfigException as exc:
            tried.append(f"in-cluster: {exc}")
    else:
        tried.append("in-cluster: KUBERNETES_SERVICE_HOST not set" if not context else "in-cluster: --context given")
    default = os.path.expanduser(k8s_config.KUBE_CONFIG_DEFAULT_LOCATION)
    try:
        k8s_config.load_kube_config(config_file=default, context=context, client_configuration=configuration)
        return k8s.ApiClient(configuration)
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        tried.append(f"{default}: {exc}")
    raise KubeConfigError("no Kubernetes configuration found (" + "; ".join(tried) + "); pass --kubeconfig")


def api_host(api: k8s.ApiClient) -> str:
    return str(api.configuration.host)


@dataclass
class RawResponse:
    """An open, undecoded response; the caller must :meth:`close` it (streams are read line by line)."""

    status: int
    raw: Any  # urllib3.HTTPResponse

    def json(self) -> Any:
        try:
            return orjson.loads(self.raw.data)
        finally:
            self.raw.release_conn()

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            self.raw.release_conn()


def _query(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    out = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        out.append((key, ("true" if value else "false") if isinstance(value, bool) else str(value)))
    return out


def open_request(
    api: k8s.ApiClient,
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    content_type: str | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
) -> RawResponse:
    """Send one request; raise :class:`ApiError` for any non-2xx answer or transport failure."""
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    try:
        m, url, hdrs, payload, _post = api.param_serialize(
            method=method,
            resource_path=path,
            query_params=_query(params),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = api.call_api(m, url, header_params=hdrs, body=payload, _request_timeout=timeout)
    except k8s.ApiException as exc:  # TLS failures and bodies the client cannot encode
        raise ApiError(exc.status or 0, str(exc.reason or "error"), f"{method} {path}") from None
    except Exception as exc:  # noqa: BLE001 - urllib3 raises many kinds; all mean "unreachable"
        raise ApiError(0, "Unreachable", f"{method} {path}: {type(exc).__name__}: {exc}") from None
    raw = response.response
    if 200 <= raw.status < 300:
        return RawResponse(raw.status, raw)
    data = raw.data
    raw.release_conn()
    status_body: dict[str, Any] = {}
    try:
        parsed = orjson.loads(data) if data else {}
        status_body = parsed if isinstance(parsed, dict) else {}
    except orjson.JSONDecodeError:
        pass
    message = str(status_body.get("message") or (data[:200].decode(errors="replace") if data else ""))
    reason = str(status_body.get("reason") or raw.reason or "Error")
    raise ApiError(raw.status, reason, f"{method} {path}: {message}", status_body)


def request_json(
    api: k8s.ApiClient,
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    content_type: str | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
) -> Any:
    """One request, its JSON answer parsed (``{}`` for an empty body)."""
    response = open_request(api, method, path, params, body, content_type, timeout)
    try:
        data = response.raw.data
    finally:
        response.raw.release_conn()
    if not data:
        return {}
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(response.status, "BadResponse", f"{method} {path}: not JSON: {exc}") from None


def list_all(
    api: k8s.ApiClient,
    path: str,
    page_size: int = 500,
    params: Mapping[str, Any] | None = None,
    timeout: float | tuple[float, float] = (5.0, 60.0),
) -> tuple[list[dict[str, Any]], str | None]:
    """Every object at ``path``, paginated with ``limit``/``continue``; returns (items, list resourceVersion).

    A continue token that expired mid-list (410) restarts the list from scratch:
    half a list from one version and half from another would not be consistent.
    """
    restarts = 0
    while True:
        items: list[dict[str, Any]] = []
        token: str | None = None
        version: str | None = None
        try:
            while True:
                page = request_json(
                    api, "GET", path, {**(params or {}), "limit": page_size, "continue": token}, timeout=timeout
                )
                if not isinstance(page, dict):
                    raise ApiError(200, "BadResponse", f"GET {path}: expected a list object")
                batch = page.get("items") or []
                items.extend(o for o in batch if isinstance(o, dict))
                meta = jsonutil.obj(page.get("metadata"))
                version = meta.get("resourceVersion") or version
                token = meta.get("continue") or None
                if not token:
                    return items, version
        except ApiError as exc:
            if exc.status == 410 and token and restarts < 3:
                restarts += 1
                log.info("list continue token expired; restarting the list of %s", path)
                continue
            raise
