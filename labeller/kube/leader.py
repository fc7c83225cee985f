"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's leaderelection does.

Only the leader writes; followers keep their caches warm and keep planning, so a
failover takes one lease duration, not a full relist. Expiry is judged on the local
monotonic clock from when this replica last *saw the lease record change* (not from
the ``renewTime`` inside it), so clock skew between nodes cannot steal a live lease.
Every update carries the ``resourceVersion`` just read: two candidates racing for a
free lease cannot both win, the loser gets 409 and stays a follower.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s

from joulie import jsonutil
from joulie.kube.client import ApiError, request_json

log = logging.getLogger(__name__)


def _micro_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        api: k8s.ApiClient,
        name: str,
        namespace: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float | None = None,
        retry_period: float | None = None,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
    ) -> None:
        if lease_duration < 1:
            raise ValueError("--lease-duration must be at least 1 second")
        self.api = api
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline if renew_deadline is not None else lease_duration * 2 / 3
        self.retry_period = retry_period if retry_period is not None else lease_duration / 3
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self.holder: str | None = None
        self.last_error: str | None = None
        self._leader = False
        self._renewed_at = 0.0
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ queries

    def is_leader(self) -> bool:
        """Leader now: holds the lease and renewed it within the renew deadline."""
        with self._lock:
            return self._leader and time.monotonic() - self._renewed_at < self.renew_deadline

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop campaigning and hand the lease back, so a standby takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._leader:
            self.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.try_acquire_or_renew()
            self._stop.wait(self.retry_period)

    # ------------------------------------------------------------ one round

    def try_acquire_or_renew(self) -> bool:
        """One election round; returns whether this replica leads afterwards."""
        now_wall = time.time()
        now = time.monotonic()
        try:
            won = self._round(now_wall, now)
            self.last_error = None
        except ApiError as exc:
            self.last_error = str(exc)
            log.warning("leader election round failed: %s", exc)
            won = False
        if won:
            with self._lock:
                was = self._leader
                self._leader = True
                self._renewed_at = now
            if not was:
                log.info("became leader", extra={"lease": f"{self.namespace}/{self.name}", "identity": self.identity})
                self._notify(self.on_started_leading)
            return True
        with self._lock:
            was = self._leader
            keep = was and self.holder in (None, self.identity) and now - self._renewed_at < self.renew_deadline
            self._leader = keep
        if was and not keep:
            log.warning("lost leadership", extra={"lease": f"{self.namespace}/{self.name}", "holder": self.holder})
            self._notify(self.on_stopped_leading)
        return keep

    def _round(self, now_wall: float, now: float) -> bool:
        try:
            lease = request_json(self.api, "GET", self.path)
        except ApiError as exc:
            if exc.status != 404:
                raise
            return self._create(now_wall)
        spec = jsonutil.obj(lease.get("spec"))
        meta = jsonutil.obj(lease.get("metadata"))
        holder = spec.get("holderIdentity") or None
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, now
        self.holder = holder
        duration = spec.get("leaseDurationSeconds") if isinstance(spec.get("leaseDurationSeconds"), int) else None
        expired = now - self._observed_at > (duration or self.lease_duration)
        if holder not in (None, self.identity) and not expired:
            return False
        raw_transitions = spec.get("leaseTransitions")
        transitions = raw_transitions if isinstance(raw_transitions, int) else 0
        patch_spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": round(self.lease_duration),
            "renewTime": _micro_time(now_wall),
        }
        if holder != self.identity:
            patch_spec["acquireTime"] = _micro_time(now_wall)
            patch_spec["leaseTransitions"] = transitions + 1
        patch: dict[str, Any] = {"spec": patch_spec}
        if meta.get("resourceVersion"):
            patch["metadata"] = {"resourceVersion": meta["resourceVersion"]}
        try:
            stored = request_json(self.api, "PATCH", self.path, body=patch, content_type="application/merge-patch+json")
        except ApiError as exc:
            if exc.status in (404, 409):  # deleted or taken between our read and write
                return False
            raise
        self._see(stored, now)
        return True

    def _create(self, now_wall: float) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": round(self.lease_duration),
                "acquireTime": _micro_time(now_wall),
                "renewTime": _micro_time(now_wall),
                "leaseTransitions": 0,
            },
        }
        try:
            stored = request_json(
                self.api, "POST", f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases", body=body
            )
        except ApiError as exc:
            if exc.status == 409:  # another candidate created it first
                return False
            raise
        self._see(stored, time.monotonic())
        return True

    def _see(self, lease: Any, now: float) -> None:
        spec = jsonutil.obj(jsonutil.obj(lease).get("spec"))
        self.holder = spec.get("holderIdentity") or self.identity
        self._observed = (
            spec.get("holderIdentity"),
            spec.get("renewTime"),
            spec.get("leaseDurationSeconds"),
            spec.get("leaseTransitions"),
        )
        self._observed_at = now

    def release(self) -> None:
        """Clear ``holderIdentity`` (client-go's ReleaseOnCancel); best effort."""
        with self._lock:
            was = self._leader
            self._leader = False
        if not was:
            return
        try:
            request_json(
                self.api,
                "PATCH",
                self.path,
                body={
                    "spec": {"holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": _micro_time(time.time())}
                },
                content_type="application/merge-patch+json",
            )
            log.info("released leadership", extra={"lease": f"{self.namespace}/{self.name}"})
        except ApiError as exc:
            log.warning("could not release the lease: %s", exc)
        self._notify(self.on_stopped_leading)

    @staticmethod
    def _notify(callback: Callable[[], None] | None) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:
            log.exception("leader-election callback failed")


__all__ = ["LeaderElector"]
