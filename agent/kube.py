"""The Kubernetes side of the agent: watch this node's profiles, write their status.

Two watches (list, then watch from the list's resourceVersion; relist on 410 Gone;
reconnect with capped exponential backoff) keep an in-memory copy of the one
NodePowerProfile named ``node-<node>`` and of every TelemetryProfile. The agent only
ever writes the ``status`` subresource, by JSON merge patch, as field manager
``joulie-agent``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from pydantic import BaseModel, ValidationError

from agent.source import Desired, parse_profile, validation_message
from joulie.api.labels import AGENT_FIELD_MANAGER
from joulie.api.v1alpha1 import (
    GROUP,
    NPP_KIND,
    NPP_PLURAL,
    TP_KIND,
    TP_PLURAL,
    VERSION,
    TelemetryProfile,
    npp_name,
)

log = logging.getLogger(__name__)

WATCH_TIMEOUT_SECONDS = 300
BACKOFF_MAX_SECONDS = 30.0


def load_api_client(kubeconfig: str | None, context: str | None) -> client.ApiClient:
    """In-cluster config first (the DaemonSet case), then a kubeconfig file."""
    if kubeconfig is None and context is None:
        try:
            config.load_incluster_config()
            return client.ApiClient()
        except config.ConfigException:
            pass
    return config.new_client_from_config(config_file=kubeconfig, context=context)


def select_telemetry_profile(objs: list[dict[str, Any]], node: str) -> tuple[TelemetryProfile | None, str | None]:
    """The TelemetryProfile for ``node``: scope node + nodeName wins over scope cluster; by name otherwise."""
    best: tuple[int, str] | None = None
    chosen: dict[str, Any] | None = None
    for obj in objs:
        target = ((obj.get("spec") or {}).get("target")) or {}
        scope = target.get("scope", "node")
        if scope == "node" and target.get("nodeName") == node:
            rank = 0
        elif scope == "cluster":
            rank = 1
        else:
            continue
        key = (rank, (obj.get("metadata") or {}).get("name", ""))
        if best is None or key < best:
            best, chosen = key, obj
    if chosen is None:
        return None, None
    try:
        return TelemetryProfile.model_validate(chosen), None
    except ValidationError as exc:
        name = (chosen.get("metadata") or {}).get("name")
        return None, f"TelemetryProfile {name} is invalid: {validation_message(exc)}"


def merge_patch_body(model: BaseModel) -> dict[str, Any]:
    """A JSON merge patch that makes the object's field equal ``model``.

    Unset fields become explicit nulls (a merge patch deletes them), nested objects
    recurse so a stale ``cpu.packages`` goes away when the backend changes, and lists
    are sent whole without nulls, since a merge patch replaces lists as they are.
    """
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        key = info.alias or name
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out[key] = merge_patch_body(value)
        elif isinstance(value, list):
            out[key] = [v.model_dump(by_alias=True, exclude_none=True, mode="json") if isinstance(v, BaseModel)
                        else v for v in value]
        elif value is None:
            out[key] = None
        else:
            out[key] = model.model_dump(by_alias=True, mode="json", include={name})[key]
    return out


class _Watcher(threading.Thread):
    """List + watch one cluster-scoped custom resource, forever, into ``objects``."""

    def __init__(self, api: client.CustomObjectsApi, plural: str, on_change: Callable[[], None],
                 stop: threading.Event, field_selector: str | None = None) -> None:
        super().__init__(name=f"watch-{plural}", daemon=True)
        self.api, self.plural, self.on_change, self.stop_event = api, plural, on_change, stop
        self.field_selector = field_selector
        self.objects: dict[str, dict[str, Any]] = {}
        self.synced = threading.Event()
        self.lock = threading.Lock()
        self.last_error: str | None = None

    def _list(self) -> str:
        kwargs = {"field_selector": self.field_selector} if self.field_selector else {}
        resp = self.api.list_cluster_custom_object(GROUP, VERSION, self.plural, **kwargs)
        with self.lock:
            self.objects = {o["metadata"]["name"]: o for o in resp.get("items", [])}
        self.synced.set()
        self.on_change()
        return resp.get("metadata", {}).get("resourceVersion", "")

    def run(self) -> None:
        backoff = 1.0
        while not self.stop_event.is_set():
            try:
                rv = self._list()
                self.last_error = None
                backoff = 1.0
                self._watch(rv)
            except ApiException as exc:
                self.last_error = f"{self.plural}: API error {exc.status} {exc.reason}"
            except Exception as exc:  # noqa: BLE001 - network errors of every kind: reconnect
                self.last_error = f"{self.plural}: {type(exc).__name__}: {exc}"
            if self.stop_event.is_set():
                return
            if self.last_error:
                log.warning("watch failed; reconnecting", extra={"error": self.last_error, "backoff": backoff})
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    def _watch(self, rv: str) -> None:
        while not self.stop_event.is_set():
            w = watch.Watch()
            kwargs: dict[str, Any] = {"timeout_seconds": WATCH_TIMEOUT_SECONDS, "allow_watch_bookmarks": True}
            if rv:
                kwargs["resource_version"] = rv
            if self.field_selector:
                kwargs["field_selector"] = self.field_selector
            for event in w.stream(self.api.list_cluster_custom_object, GROUP, VERSION, self.plural, **kwargs):
                if self.stop_event.is_set():
                    w.stop()
                    return
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return  # resourceVersion too old: relist
                    raise RuntimeError(f"watch error: {obj.get('message', obj)}")
                meta = obj.get("metadata") or {}
                rv = meta.get("resourceVersion", rv)
                if kind == "BOOKMARK":
                    continue
                with self.lock:
                    if kind == "DELETED":
                        self.objects.pop(meta.get("name"), None)
                    else:
                        self.objects[meta.get("name")] = obj
                self.on_change()
            # server closed the watch after timeout_seconds: resume from rv

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.objects.values())


class KubeSource:
    """Desired state of one node from the cluster, plus status writes."""

    def __init__(self, api_client: client.ApiClient, node: str) -> None:
        self.node = node
        self.name = npp_name(node)
        self.api = client.CustomObjectsApi(api_client)
        self._stop = threading.Event()
        self._changed = threading.Event()
        self.npp = _Watcher(self.api, NPP_PLURAL, self._changed.set, self._stop,
                            field_selector=f"metadata.name={self.name}")
        self.tps = _Watcher(self.api, TP_PLURAL, self._changed.set, self._stop)
        self._last_status: dict[str, dict[str, Any]] = {}
        """plural -> body of the last status write that succeeded."""

    def start(self, sync_timeout: float = 30.0) -> bool:
        """Start both watches; True once both listed (False after ``sync_timeout``)."""
        self.npp.start()
        self.tps.start()
        deadline = time.monotonic() + sync_timeout
        for w in (self.npp, self.tps):
            if not w.synced.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def current(self) -> Desired:
        objs = [o for o in self.npp.snapshot() if (o.get("metadata") or {}).get("name") == self.name]
        tp, tp_error = select_telemetry_profile(self.tps.snapshot(), self.node)
        if not objs:
            return Desired(profile=None, telemetry=tp)
        desired = parse_profile(objs[0])
        desired.telemetry = tp
        if tp_error and desired.invalid is None:
            desired.profile, desired.invalid = None, tp_error
        return desired

    def wait(self, timeout: float) -> None:
        self._changed.wait(timeout)
        self._changed.clear()

    def ready(self) -> tuple[bool, str]:
        for w in (self.npp, self.tps):
            if not w.synced.is_set():
                return False, f"{w.plural} not listed yet" + (f": {w.last_error}" if w.last_error else "")
        return True, "ok"

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()

    # ------------------------------------------------------------------ status writes

    def _patch_status(self, plural: str, kind: str, name: str, body: dict[str, Any]) -> None:
        """Merge-patch a status; skipped when the last write of ``plural`` sent the same body,
        ignored when the object is gone."""
        if body == self._last_status.get(plural):
            return
        try:
            self.api.patch_cluster_custom_object_status(GROUP, VERSION, plural, name, body,
                                                        field_manager=AGENT_FIELD_MANAGER)
            self._last_status[plural] = body
        except ApiException as exc:
            if exc.status != 404:
                log.warning(f"{kind} status write failed",
                            extra={"name": name, "status": exc.status, "reason": exc.reason})

    def patch_profile_status(self, status: dict[str, Any]) -> None:
        """Merge-patch the NodePowerProfile status; skipped when unchanged, ignored when it is gone."""
        self._patch_status(NPP_PLURAL, NPP_KIND, self.name, {"status": status})

    def patch_telemetry_status(self, name: str, control: dict[str, Any]) -> None:
        self._patch_status(TP_PLURAL, TP_KIND, name, {"status": {"control": control}})
