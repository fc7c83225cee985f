"""The reconciler's writes, carried to the API server (:class:`labeller.reconciler.StateWriter`).

- Node labels: JSON merge patch of ``metadata.labels`` only (``None`` removes a label),
  so labels other controllers own are never touched.
- NodePowerProfiles: server-side apply with ``fieldManager=joulie-labeller`` and
  ``force=true`` (the labeller owns the spec). Servers or emulators that refuse apply
  get a create, and an existing object is replaced through a merge patch that carries
  the ``resourceVersion`` just read, so a concurrent writer makes it fail with 409
  and it is retried on a fresh read. If apply leaves fields another manager added to
  the spec, the same conflict-checked replace removes them: the spec converges to
  exactly what the plan wants, and the next pass writes nothing.
- Events: core/v1 Events on the Node (``kubectl describe node`` shows them). A repeat
  of the same event within ``dedup_seconds`` bumps ``count`` on the existing object
  instead of creating another, as client-go's recorder does.

Every API failure becomes :class:`labeller.reconciler.WriteError` naming the call,
the object, the status and the server's reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s

from joulie import jsonutil
from joulie.api.labels import FIELD_MANAGER
from joulie.api.v1alpha1 import API_VERSION, PCP_KIND, NodePowerProfile
from joulie.kube.client import NODES_PATH, NPP_PATH, PCP_PATH, ApiError, request_json
from labeller.desired import OWNED_ANNOTATIONS
from labeller.writes import WriteError

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_UNSUPPORTED = frozenset({404, 405, 415})
"""Answers to an apply that mean "create it another way": 415/405 from servers without
apply support; 404 from servers (emulators) that only patch existing objects. A real
server answering 404 lacks the CRD, and the create that follows reports that."""


def _now_rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch_to(current: Any, desired: Any) -> Any:
    """The JSON merge patch (RFC 7386) turning ``current`` into ``desired``: keys to drop become ``None``."""
    if not isinstance(desired, dict) or not isinstance(current, dict):
        return desired
    patch: dict[str, Any] = {k: None for k in current if k not in desired}
    for key, value in desired.items():
        if key not in current:
            patch[key] = value
        elif current[key] != value:
            patch[key] = merge_patch_to(current[key], value)
    return patch


class KubeWriter:
    def __init__(
        self,
        api: k8s.ApiClient,
        *,
        field_manager: str = FIELD_MANAGER,
        event_namespace: str = "default",
        reporting_instance: str = "",
        dedup_seconds: float = 300.0,
        conflict_retries: int = 3,
        allowed: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.field_manager = field_manager
        self.event_namespace = event_namespace
        self.reporting_instance = reporting_instance
        self.dedup_seconds = dedup_seconds
        self.conflict_retries = conflict_retries
        self.allowed = allowed
        self.clock = clock
        self._events: dict[tuple[str, str, str, str], tuple[str, int, float]] = {}
        self._events_lock = threading.Lock()

    # ------------------------------------------------------------ helpers

    def _check_allowed(self, what: str) -> None:
        if self.allowed is not None and not self.allowed():
            raise WriteError(f"{what}: not written, this replica is no longer the leader")

    def _call(self, what: str, method: str, path: str, **kw: Any) -> Any:
        try:
            return request_json(self.api, method, path, **kw)
        except ApiError as exc:
            raise _write_error(what, exc) from None

    # ------------------------------------------------------------ labels

    def patch_node_labels(self, node: str, labels: Mapping[str, str | None]) -> Mapping[str, Any] | None:
        what = f"patch labels of node {node}"
        self._check_allowed(what)
        return self._call(
            what,
            "PATCH",
            f"{NODES_PATH}/{node}",
            params={"fieldManager": self.field_manager},
            body={"metadata": {"labels": dict(labels)}},
            content_type=MERGE_PATCH,
        )

    # ------------------------------------------------------------ NodePowerProfiles

    def apply_profile(self, profile: NodePowerProfile) -> Mapping[str, Any] | None:
        desired = profile.to_api()
        name = desired["metadata"]["name"]
        what = f"apply NodePowerProfile {name}"
        self._check_allowed(what)
        try:
            stored = request_json(
                self.api,
                "PATCH",
                f"{NPP_PATH}/{name}",
                params={"fieldManager": self.field_manager, "force": True},
                body=desired,
                content_type=APPLY_PATCH,
            )
        except ApiError as exc:
            if exc.status in APPLY_UNSUPPORTED:
                return self._create_or_replace(name, desired)
            if exc.status == 409:
                return self._replace(name, desired)
            raise _write_error(what, exc) from None
        if isinstance(stored, dict) and stored.get("spec") != desired["spec"]:
            # Fields set by someone else survive an apply; replace them away.
            return self._replace(name, desired, current=stored)
        return stored

    def _create_or_replace(self, name: str, desired: dict[str, Any]) -> dict[str, Any]:
        try:
            return request_json(self.api, "POST", NPP_PATH, params={"fieldManager": self.field_manager}, body=desired)
        except ApiError as exc:
            if exc.status != 409:
                raise _write_error(f"create NodePowerProfile {name}", exc) from None
        return self._replace(name, desired)

    def _replace(self, name: str, desired: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
        """Make the stored object's spec, labels and annotations ours, guarded by resourceVersion."""
        path = f"{NPP_PATH}/{name}"
        what = f"replace NodePowerProfile {name}"
        last: ApiError | None = None
        for _attempt in range(self.conflict_retries + 1):
            self._check_allowed(what)
            if current is None:
                try:
                    current = request_json(self.api, "GET", path)
                except ApiError as exc:
                    if exc.status == 404:  # deleted meanwhile: create it afresh
                        return self._call(
                            f"create NodePowerProfile {name}",
                            "POST",
                            NPP_PATH,
                            params={"fieldManager": self.field_manager},
                            body=desired,
                        )
                    raise _write_error(what, exc) from None
            meta = jsonutil.obj(current.get("metadata"))
            annotations: dict[str, Any] = dict(desired["metadata"].get("annotations") or {})
            stale = jsonutil.obj(meta.get("annotations"))
            annotations.update({k: None for k in OWNED_ANNOTATIONS if k in stale and k not in annotations})
            patch: dict[str, Any] = {
                "metadata": {
                    "labels": desired["metadata"].get("labels") or {},
                    "annotations": annotations,
                },
                "spec": merge_patch_to(current.get("spec") or {}, desired["spec"]),
            }
            if meta.get("resourceVersion"):
                patch["metadata"]["resourceVersion"] = meta["resourceVersion"]
            try:
                return request_json(
                    self.api,
                    "PATCH",
                    path,
                    params={"fieldManager": self.field_manager},
                    body=patch,
                    content_type=MERGE_PATCH,
                )
            except ApiError as exc:
                if exc.status != 409:
                    raise _write_error(what, exc) from None
                last = exc
                current = None  # read again and retry on the fresh object
                log.info("conflict replacing NodePowerProfile %s; retrying on a fresh read", name)
        assert last is not None
        raise _write_error(f"{what} (gave up after {self.conflict_retries + 1} conflicts)", last)

    def delete_profile(self, name: str) -> None:
        what = f"delete NodePowerProfile {name}"
        self._check_allowed(what)
        try:
            request_json(self.api, "DELETE", f"{NPP_PATH}/{name}")
        except ApiError as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise _write_error(what, exc) from None

    # ------------------------------------------------------------ events

    def emit_event(self, node: str, reason: str, message: str, type_: str = "Normal") -> None:
        self._emit({"apiVersion": "v1", "kind": "Node", "name": node}, reason, message, type_)

    def emit_policy_event(self, policy: str, reason: str, message: str, type_: str = "Normal") -> None:
        self._emit({"apiVersion": API_VERSION, "kind": PCP_KIND, "name": policy}, reason, message, type_)

    def patch_policy_status(self, name: str, status: Mapping[str, Any]) -> None:
        what = f"patch status of PowerCappingPolicy {name}"
        self._check_allowed(what)
        try:
            request_json(
                self.api,
                "PATCH",
                f"{PCP_PATH}/{name}/status",
                params={"fieldManager": self.field_manager},
                body={"status": dict(status)},
                content_type=MERGE_PATCH,
            )
        except ApiError as exc:
            if exc.status != 404:  # deleted meanwhile: nothing to report on
                raise _write_error(what, exc) from None

    def _emit(self, involved: dict[str, str], reason: str, message: str, type_: str) -> None:
        target = involved["name"]
        what = f"event {reason} on {involved['kind']} {target}"
        self._check_allowed(what)
        now = self.clock()
        key = (f"{involved['kind']}/{target}", reason, message, type_)
        with self._events_lock:
            self._prune(now)
            seen = self._events.get(key)
        ns = self.event_namespace
        if seen is not None:
            name, count, first = seen
            try:
                request_json(
                    self.api,
                    "PATCH",
                    f"/api/v1/namespaces/{ns}/events/{name}",
                    body={"count": count + 1, "lastTimestamp": _now_rfc3339(now)},
                    content_type=MERGE_PATCH,
                )
                with self._events_lock:
                    self._events[key] = (name, count + 1, first)
                return
            except ApiError as exc:
                if exc.status != 404:
                    raise _write_error(what, exc) from None
                # the event expired (TTL) or was deleted: record a new one
        name = f"{target}.{time.time_ns():x}"
        stamp = _now_rfc3339(now)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": self.field_manager},
            "reportingComponent": self.field_manager,
            "reportingInstance": self.reporting_instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        self._call(what, "POST", f"/api/v1/namespaces/{ns}/events", body=body)
        with self._events_lock:
            self._events[key] = (name, 1, now)

    def _prune(self, now: float) -> None:
        expired = [k for k, (_, _, first) in self._events.items() if now - first >= self.dedup_seconds]
        for k in expired:
            del self._events[k]


class DryRunWriter:
    """``--dry-run``: log each write the labeller would make, write nothing.

    Returning ``None`` lets the reconciler record the would-be state in its caches,
    so each change is logged once rather than on every pass.
    """

    def patch_node_labels(self, node: str, labels: Mapping[str, str | None]) -> Mapping[str, Any] | None:
        log.info("dry-run: would patch node labels", extra={"node": node, "labels": dict(labels)})
        return None

    def apply_profile(self, profile: NodePowerProfile) -> Mapping[str, Any] | None:
        obj = profile.to_api()
        log.info(
            "dry-run: would apply NodePowerProfile", extra={"profile": obj["metadata"]["name"], "spec": obj["spec"]}
        )
        return None

    def delete_profile(self, name: str) -> None:
        log.info("dry-run: would delete NodePowerProfile", extra={"profile": name})

    def emit_event(self, node: str, reason: str, message: str, type_: str = "Normal") -> None:
        log.info(
            "dry-run: would emit event", extra={"node": node, "reason": reason, "type": type_, "event_message": message}
        )

    def emit_policy_event(self, policy: str, reason: str, message: str, type_: str = "Normal") -> None:
        log.info(
            "dry-run: would emit event",
            extra={"policy": policy, "reason": reason, "type": type_, "event_message": message},
        )

    def patch_policy_status(self, name: str, status: Mapping[str, Any]) -> None:
        log.info("dry-run: would patch PowerCappingPolicy status", extra={"policy": name, "status": dict(status)})


def _write_error(what: str, exc: ApiError) -> WriteError:
    if exc.unreachable:
        return WriteError(f"{what}: API server unreachable ({exc.message})")
    return WriteError(f"{what}: {exc.status} {exc.reason}: {exc.message}")


__all__ = ["DryRunWriter", "KubeWriter", "merge_patch_to"]
