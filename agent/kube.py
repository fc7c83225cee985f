"""The Kubernetes side of the agent: watch this node's profiles, write their status.

:class:`joulie.kube.informer.Informer` watches (the labeller's list+watch: resume, relist on
410, backoff) keep an in-memory copy of the one NodePowerProfile named ``node-<node>`` (a
``metadata.name`` field selector, so the node never downloads the others), of every
TelemetryProfile and, for pod power profiles, of every PowerProfile, of the pods bound to this
node (``spec.nodeName``) and of this Node. The agent writes only the ``status`` subresource of
its profiles (JSON merge patch, field manager ``joulie-agent``), its Node's
``power.joulie.io/<profile>`` capacity, and Events on its pods.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s
from pydantic import BaseModel, ValidationError

from agent.engine import PodEvent
from agent.source import Desired, parse_power_profiles, parse_profile, validation_message
from joulie.api.labels import AGENT_FIELD_MANAGER
from joulie.api.v1alpha1 import (
    API_VERSION,
    NPP_KIND,
    NPP_PLURAL,
    POD_PROFILE_PREFIX,
    PP_PLURAL,
    TP_KIND,
    TP_PLURAL,
    TelemetryProfile,
    npp_name,
)
from joulie.kube.client import ApiError, request_json
from joulie.kube.informer import ErrorCounter, Informer

log = logging.getLogger(__name__)

NPP_PATH = f"/apis/{API_VERSION}/{NPP_PLURAL}"
TP_PATH = f"/apis/{API_VERSION}/{TP_PLURAL}"
PP_PATH = f"/apis/{API_VERSION}/{PP_PLURAL}"
MERGE_PATCH = "application/merge-patch+json"
EVENT_MESSAGE_MAX = 1024


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
            out[key] = [
                v.model_dump(by_alias=True, exclude_none=True, mode="json") if isinstance(v, BaseModel) else v
                for v in value
            ]
        elif value is None:
            out[key] = None
        else:
            out[key] = model.model_dump(by_alias=True, mode="json", include={name})[key]
    return out


class _ObjectCache:
    """Objects of one informer by name (namespace/name for namespaced ones); wakes the agent's loop on every change."""

    def __init__(self, changed: threading.Event) -> None:
        self._changed = changed
        self._lock = threading.Lock()
        self._objects: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _name(obj: dict[str, Any]) -> str | None:
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str):
            return None
        ns = meta.get("namespace") if isinstance(meta, dict) else None
        return f"{ns}/{name}" if isinstance(ns, str) and ns else name

    def replace(self, objs: Iterable[dict[str, Any]]) -> None:
        fresh = {name: o for o in objs if (name := self._name(o)) is not None}
        with self._lock:
            self._objects = fresh
        self._changed.set()

    def upsert(self, obj: dict[str, Any]) -> None:
        name = self._name(obj)
        if name is None:
            return
        with self._lock:
            self._objects[name] = obj
        self._changed.set()

    def delete(self, obj: dict[str, Any]) -> None:
        name = self._name(obj)
        with self._lock:
            self._objects.pop(name or "", None)
        self._changed.set()

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._objects.values())

    def get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._objects.get(name)


class KubeSource:
    """Desired state of one node from the cluster, plus status writes."""

    def __init__(
        self,
        api: k8s.ApiClient,
        node: str,
        *,
        count_error: ErrorCounter | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        pod_profiles: bool = False,
    ) -> None:
        self.api = api
        self.node = node
        self.name = npp_name(node)
        self.pod_profiles = pod_profiles
        self._changed = threading.Event()
        self._stop = threading.Event()
        self.profiles = _ObjectCache(self._changed)
        self.telemetry = _ObjectCache(self._changed)
        self.power_profiles = _ObjectCache(self._changed)
        self.pods = _ObjectCache(self._changed)
        self.nodes = _ObjectCache(threading.Event())  # the Node's status changes often: it does not wake the loop
        common: dict[str, Any] = {"backoff_initial": backoff_initial, "backoff_max": backoff_max}
        if count_error is not None:
            common["count_error"] = count_error
        self.informers = [
            Informer(
                api,
                NPP_PATH,
                self.profiles.replace,
                self.profiles.upsert,
                self.profiles.delete,
                name=NPP_PLURAL,
                params={"fieldSelector": f"metadata.name={self.name}"},
                **common,
            ),
            Informer(
                api,
                TP_PATH,
                self.telemetry.replace,
                self.telemetry.upsert,
                self.telemetry.delete,
                name=TP_PLURAL,
                **common,
            ),
        ]
        if pod_profiles:
            self.informers += [
                Informer(
                    api,
                    PP_PATH,
                    self.power_profiles.replace,
                    self.power_profiles.upsert,
                    self.power_profiles.delete,
                    name=PP_PLURAL,
                    absent_ok=True,  # no PowerProfile CRD (yet): no pod profiles, not a failing agent
                    **common,
                ),
                Informer(
                    api,
                    "/api/v1/pods",
                    self.pods.replace,
                    self.pods.upsert,
                    self.pods.delete,
                    name="pods",
                    params={"fieldSelector": f"spec.nodeName={node}"},
                    **common,
                ),
                Informer(
                    api,
                    "/api/v1/nodes",
                    self.nodes.replace,
                    self.nodes.upsert,
                    self.nodes.delete,
                    name="nodes",
                    params={"fieldSelector": f"metadata.name={node}"},
                    **common,
                ),
            ]
        self._last_status: dict[str, dict[str, Any]] = {}
        """plural -> body of the last status write that succeeded."""

    def start(self, sync_timeout: float = 30.0) -> bool:
        """Start both watches; True once both listed (False after ``sync_timeout``)."""
        for inf in self.informers:
            inf.start()
        deadline = time.monotonic() + sync_timeout
        return all(inf.wait_synced(max(0.0, deadline - time.monotonic())) for inf in self.informers)

    def current(self) -> Desired:
        # The field selector already narrows the list; an API server that ignores it must not
        # make this node enforce another node's profile.
        objs = [o for o in self.profiles.items() if (o.get("metadata") or {}).get("name") == self.name]
        tp, tp_error = select_telemetry_profile(self.telemetry.items(), self.node)
        desired = parse_profile(objs[0]) if objs else Desired(profile=None)
        desired.telemetry = tp
        if objs and tp_error and desired.invalid is None:
            desired.profile, desired.invalid = None, tp_error
        if self.pod_profiles:
            # As for the profile: a server that ignores the field selector must not hand us other nodes' pods.
            desired.pods = [p for p in self.pods.items() if (p.get("spec") or {}).get("nodeName") == self.node]
            desired.power_profiles = parse_power_profiles(self.power_profiles.items())
        return desired

    def wait(self, timeout: float) -> None:
        self._changed.wait(timeout)
        self._changed.clear()

    def ready(self) -> tuple[bool, str]:
        for inf in self.informers:
            if not inf.synced:
                return False, f"{inf.name} not listed yet" + (f": {inf.last_error}" if inf.last_error else "")
        return True, "ok"

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        for inf in self.informers:
            inf.stop()

    # ------------------------------------------------------------------ status writes

    def _patch_status(self, path: str, kind: str, name: str, body: dict[str, Any]) -> None:
        """Merge-patch a status; skipped when the last write to ``path`` sent the same body,
        ignored when the object is gone."""
        if body == self._last_status.get(path):
            return
        try:
            request_json(
                self.api,
                "PATCH",
                f"{path}/{name}/status",
                params={"fieldManager": AGENT_FIELD_MANAGER},
                body=body,
                content_type=MERGE_PATCH,
            )
            self._last_status[path] = body
        except ApiError as exc:
            if exc.status != 404:
                log.warning(
                    f"{kind} status write failed", extra={"name": name, "status": exc.status, "reason": exc.reason}
                )

    def patch_profile_status(self, status: dict[str, Any]) -> None:
        """Merge-patch the NodePowerProfile status; skipped when unchanged, ignored when it is gone."""
        self._patch_status(NPP_PATH, NPP_KIND, self.name, {"status": status})

    def patch_telemetry_status(self, name: str, control: dict[str, Any]) -> None:
        self._patch_status(TP_PATH, TP_KIND, name, {"status": {"control": control}})

    # ------------------------------------------------------------------ pod power profiles

    def sync_capacity(self, capacity: dict[str, int]) -> None:
        """Make the Node's ``power.joulie.io/*`` capacity equal ``capacity`` (others' resources untouched).

        Compared with the watched Node, not with what was last sent: a kubelet that re-registers
        zeroes extended resources, and they are put back on the next pass.
        """
        node = self.nodes.get(self.node)
        if node is None:
            return  # not listed yet, or the Node is gone
        have = {
            k: str(v)
            for k, v in ((node.get("status") or {}).get("capacity") or {}).items()
            if str(k).startswith(POD_PROFILE_PREFIX)
        }
        want = {k: str(v) for k, v in capacity.items()}
        patch: dict[str, str | None] = {k: v for k, v in want.items() if have.get(k) != v}
        patch.update({k: None for k in have if k not in want})
        if not patch:
            return
        try:
            updated = request_json(
                self.api,
                "PATCH",
                f"/api/v1/nodes/{self.node}/status",
                params={"fieldManager": AGENT_FIELD_MANAGER},
                body={"status": {"capacity": patch}},
                content_type=MERGE_PATCH,
            )
            if isinstance(updated, dict) and updated.get("metadata"):
                self.nodes.upsert(updated)
            log.info("node capacity updated", extra={"node": self.node, "capacity": patch})
        except ApiError as exc:
            log.warning(
                "node capacity write failed", extra={"node": self.node, "status": exc.status, "reason": exc.reason}
            )

    def emit_pod_event(self, event: PodEvent) -> None:
        """A core/v1 Event on the pod (``kubectl describe pod`` shows it); failures are logged, not raised."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{event.pod}.{time.time_ns():x}", "namespace": event.namespace},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": event.pod,
                "namespace": event.namespace,
                **({"uid": event.uid} if event.uid else {}),
            },
            "reason": event.reason,
            "message": event.message[:EVENT_MESSAGE_MAX],
            "type": event.type,
            "source": {"component": AGENT_FIELD_MANAGER, "host": self.node},
            "reportingComponent": AGENT_FIELD_MANAGER,
            "reportingInstance": self.node,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            request_json(self.api, "POST", f"/api/v1/namespaces/{event.namespace}/events", body=body)
        except ApiError as exc:
            log.warning(
                "pod event write failed",
                extra={"pod": f"{event.namespace}/{event.pod}", "reason": event.reason, "status": exc.status},
            )
