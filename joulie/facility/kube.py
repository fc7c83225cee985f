"""The facility collectors against a live cluster: templates and nodes watched, targets kept current, status.

Two informers (FacilityTelemetryTemplates, and nodes for their labels and addresses:
the labeller's store keeps neither addresses nor raw objects) feed one loop thread
that re-resolves the targets shortly after a change, and writes each template's
status (matched, shadowed and fresh nodes, a ``Ready`` condition whose message names
the first failing nodes) when it changed; with leader election only the leader
writes. Failing sources never make ``joulie serve`` unready: the extender scores
such nodes neutrally.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s

from joulie.api.v1alpha1 import API_VERSION, FT_PLURAL, Condition, FacilityTelemetryTemplateStatus, set_condition
from joulie.core.facility import NodeFacility
from joulie.core.power import ParametricModel
from joulie.facility.collector import FacilityCollector
from joulie.facility.targets import FacilityNode, NodeTarget, resolve
from joulie.jsonutil import obj as _obj
from joulie.kube.client import NODES_PATH, ApiError, request_json
from joulie.kube.informer import Informer

log = logging.getLogger(__name__)

FT_PATH = f"/apis/{API_VERSION}/{FT_PLURAL}"
MERGE = "application/merge-patch+json"
MAX_NAMED_PROBLEMS = 3


def node_fresh(target: NodeTarget, facility: NodeFacility | None, now: float) -> bool:
    """Every source the target configures has a fresh value."""
    if target.error or facility is None:
        return False
    checks = [
        (target.inlet, facility.inlet_temp),
        (target.delta_p, facility.delta_p),
        (target.predictor, facility.power),
    ]
    return all(reading is not None and reading.fresh(now) for configured, reading in checks if configured is not None)


class FacilityRuntime:
    def __init__(
        self,
        api: k8s.ApiClient,
        collector: FacilityCollector,
        default_model: ParametricModel | None = None,
        *,
        may_write: Callable[[], bool] = lambda: True,
        status_interval: float = 15.0,
        debounce: float = 0.3,
        watch_timeout_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.collector = collector
        self.default_model = default_model or ParametricModel()
        self.may_write = may_write
        self.status_interval = status_interval
        self.debounce = debounce
        self.clock = clock
        self._templates: dict[str, dict[str, Any]] = {}
        self._generations: dict[str, int] = {}
        self._nodes: dict[str, FacilityNode] = {}
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._written: dict[str, dict[str, Any]] = {}
        common: dict[str, Any] = {"watch_timeout_seconds": watch_timeout_seconds}
        self.informers = [
            Informer(
                api,
                FT_PATH,
                self._replace_templates,
                self._upsert_template,
                self._delete_template,
                name=FT_PLURAL,
                **common,
            ),
            Informer(
                api,
                NODES_PATH,
                self._replace_nodes,
                self._upsert_node,
                self._delete_node,
                name="facility-nodes",
                **common,
            ),
        ]

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.collector.start()
        for inf in self.informers:
            inf.start()
        self._thread = threading.Thread(target=self._loop, name="facility-targets", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(5)
        for inf in self.informers:
            inf.stop()
        self.collector.stop()

    def healthy(self) -> bool:
        return self._stopping.is_set() or (
            self.collector.alive() and self._thread is not None and self._thread.is_alive()
        )

    def synced(self) -> bool:
        return all(inf.synced for inf in self.informers)

    # ------------------------------------------------------------ watch handlers

    def _replace_templates(self, objs: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self._templates = {}
            self._generations = {}
            for o in objs:
                self._put_template(o)
        self._changed.set()

    def _put_template(self, obj: dict[str, Any]) -> None:
        meta = _obj(obj.get("metadata"))
        name = meta.get("name")
        if isinstance(name, str) and name:
            self._templates[name] = _obj(obj.get("spec"))
            generation = meta.get("generation")
            self._generations[name] = generation if isinstance(generation, int) else 0

    def _upsert_template(self, obj: dict[str, Any]) -> None:
        with self._lock:
            self._put_template(obj)
        self._changed.set()

    def _delete_template(self, obj: dict[str, Any]) -> None:
        name = _obj(obj.get("metadata")).get("name")
        with self._lock:
            self._templates.pop(name, None)  # type: ignore[arg-type]
            self._written.pop(name, None)  # type: ignore[arg-type]
        self._changed.set()

    def _replace_nodes(self, objs: Iterable[dict[str, Any]]) -> None:
        fresh: dict[str, FacilityNode] = {}
        for o in objs:
            try:
                n = FacilityNode.from_api(o)
            except ValueError:
                continue
            fresh[n.name] = n
        with self._lock:
            self._nodes = fresh
        self._changed.set()

    def _upsert_node(self, obj: dict[str, Any]) -> None:
        try:
            n = FacilityNode.from_api(obj)
        except ValueError:
            return
        with self._lock:
            if self._nodes.get(n.name) == n:
                return  # heartbeats and condition updates change nothing we use
            self._nodes[n.name] = n
        self._changed.set()

    def _delete_node(self, obj: dict[str, Any]) -> None:
        name = _obj(obj.get("metadata")).get("name")
        with self._lock:
            if self._nodes.pop(name, None) is None:  # type: ignore[arg-type]
                return
        self._changed.set()

    # ------------------------------------------------------------ loop

    def resolve_now(self) -> None:
        with self._lock:
            templates = dict(self._templates)
            nodes = list(self._nodes.values())
        resolution = resolve(templates, nodes, self.default_model)
        for name, why in resolution.invalid.items():
            log.warning("invalid FacilityTelemetryTemplate", extra={"template": name, "error": why})
        self.collector.set_targets(resolution)

    def _loop(self) -> None:
        next_status = 0.0
        while not self._stopping.is_set():
            if self._changed.wait(timeout=1.0):
                self._stopping.wait(self.debounce)
                self._changed.clear()
                if self._stopping.is_set():
                    return
                if self.synced():
                    try:
                        self.resolve_now()
                    except Exception:  # a bug must not stop collection
                        log.exception("resolving facility targets failed")
            if self.synced() and time.monotonic() >= next_status:
                next_status = time.monotonic() + self.status_interval
                if self.may_write():
                    try:
                        self.write_status()
                    except Exception:
                        log.exception("writing FacilityTelemetryTemplate status failed")

    # ------------------------------------------------------------ status

    def statuses(self) -> dict[str, FacilityTelemetryTemplateStatus]:
        """What each template's status should say now."""
        now = self.clock()
        res = self.collector.resolution
        readings = self.collector.nodes()
        targets = self.collector.targets()
        problems = self.collector.problems()
        with self._lock:
            names = sorted(self._templates)
            generations = dict(self._generations)
            previous = {n: self._written.get(n, {}).get("conditions") for n in names}
        out = {}
        for name in names:
            fresh = sum(1 for t in targets.values() if t.template == name and node_fresh(t, readings.get(t.node), now))
            matched = res.matched.get(name, 0)
            mine = [p for p in problems if p.template == name]
            if name in res.invalid:
                ok, reason, message = False, "InvalidSpec", res.invalid[name]
            elif matched == 0:
                ok, reason, message = (
                    False,
                    "NoNodes",
                    "selects no node (or every selected node is configured by another template)",
                )
            elif mine:
                named = "; ".join(f"{p.node} {p.source}: {p.message}" for p in mine[:MAX_NAMED_PROBLEMS])
                more = f" (and {len(mine) - MAX_NAMED_PROBLEMS} more)" if len(mine) > MAX_NAMED_PROBLEMS else ""
                ok, reason, message = False, "SourcesFailing", f"{fresh}/{matched} nodes fresh; {named}{more}"
            else:
                ok, reason, message = fresh == matched, "Collecting", f"{fresh}/{matched} nodes fresh"
            conditions = [Condition.model_validate(c) for c in previous[name] or []]
            conditions = set_condition(
                conditions,
                "Ready",
                ok,
                reason,
                message[:32768],
                generations.get(name),
                datetime.fromtimestamp(now, UTC),
            )
            out[name] = FacilityTelemetryTemplateStatus(
                observed_generation=generations.get(name),
                matched_nodes=matched,
                shadowed_nodes=res.shadowed.get(name, 0),
                fresh_nodes=fresh,
                conditions=conditions,
            )
        return out

    def write_status(self) -> int:
        """Patch every template whose status changed; returns how many were written."""
        written = 0
        for name, status in self.statuses().items():
            body = status.to_api()
            with self._lock:
                if self._written.get(name) == body:
                    continue
            try:
                request_json(self.api, "PATCH", f"{FT_PATH}/{name}/status", body={"status": body}, content_type=MERGE)
            except ApiError as exc:
                if exc.status != 404:  # deleted meanwhile
                    log.warning(
                        "cannot write FacilityTelemetryTemplate status", extra={"template": name, "error": str(exc)}
                    )
                continue
            with self._lock:
                self._written[name] = body
            written += 1
        return written
