"""Power-aware prioritize: score nodes by the predicted watts a pod adds (``--power-aware-scoring``).

For each node: ``before`` = CPU used by running pods (their requests) plus the pods
bound but not running yet and the pods this extender just placed there, those two at
the assumption factor (default 0.5, as WAO); ``after = before + the pod's request``.
The increase is ``curve(after) - curve(before)`` on the node's power curve: the
collectors' (:mod:`joulie.facility`) for nodes a FacilityTelemetryTemplate
configures, the default parametric model for the others. The rule itself (bands,
normalisation, neutral and overcommitted nodes) is :func:`joulie.core.power.power_scores`.

Speed, as in :mod:`extender.scoring`: the increases of every node the store knows are
computed once per (store version, facility version, pod CPU and GPUs) and kept until a
fresh reading turns stale; per request the candidates' lowest and highest increases
are found at C speed, and the scores come from a table per (demand, lowest, highest),
which the scheduler's repeated candidate lists hit pod after pod. A facility that keeps
changing (every curve refresh moves a value) rebuilds at most once per
:data:`MIN_REBUILD_SECONDS`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import repeat

from extender.supply import SupplyIndex
from extender.wire import ExtenderArgs
from joulie.api.labels import DemandClass
from joulie.core.facility import FacilityReadings, fresh_curve, next_expiry
from joulie.core.model import NodeInfo
from joulie.core.power import (
    DEFAULT_ASSUMPTION_FACTOR,
    ParametricModel,
    PowerCurve,
    load_before,
    marginal_watts,
    power_points,
)
from joulie.core.store import ClusterStore

MIN_REBUILD_SECONDS = 1.0
_MAX_TABLES = 64


@dataclass(frozen=True, slots=True)
class _State:
    store_version: int
    facility_version: int


class _Increases:
    """name -> predicted increase (``None``: unknown; ``inf``: overcommitted) for one pod size."""

    __slots__ = ("by_name", "finite", "scores")

    def __init__(self, by_name: dict[str, float | None]) -> None:
        self.by_name = by_name
        self.finite = {k: v for k, v in by_name.items() if v is not None and math.isfinite(v)}
        self.scores: dict[tuple[str, float, float], dict[str, int]] = {}


class PowerScores:
    """Per-request power-aware scores; confined to the extender's worker thread like :class:`ScoreTables`."""

    def __init__(
        self,
        facility: FacilityReadings | None = None,
        default_model: ParametricModel | None = None,
        assumption_factor: float = DEFAULT_ASSUMPTION_FACTOR,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.facility = facility
        self.default_model = default_model if default_model is not None else ParametricModel()
        self.factor = assumption_factor
        self.clock = clock
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._built_at = -math.inf
        self._valid_until = math.inf
        self._nodes: Mapping[str, NodeInfo] = {}
        self._requested: Mapping[str, int] = {}
        self._starting: Mapping[str, int] = {}
        self._curves: dict[str, PowerCurve | None] = {}
        self._tables: dict[tuple[int, int], _Increases] = {}
        self._default_curves: dict[int, PowerCurve] = {}
        self._index: SupplyIndex | None = None

    # ------------------------------------------------------------ per node

    def _default_curve(self, gpus: int) -> PowerCurve:
        c = self._default_curves.get(gpus)
        if c is None:
            c = self._default_curves[gpus] = self.default_model.curve(gpus)
        return c

    def curve(self, name: str, node: NodeInfo | None, now: float) -> PowerCurve | None:
        """The node's curve: the collectors' when a template configures it (``None`` if not fresh), else the default."""
        facility = self.facility.node(name) if self.facility is not None else None
        if facility is not None:
            return fresh_curve(facility, now)
        return self._default_curve(node.gpu_allocatable if node is not None else 0)

    def _increase(self, name: str, assumed_millis: int, pod_millis: int, pod_gpus: int) -> float | None:
        node = self._nodes.get(name)
        if node is None:
            return None
        starting = self._starting.get(name, 0)
        running = self._requested.get(name, 0) - starting
        used = load_before(running, starting + assumed_millis, self.factor)
        return marginal_watts(self._curves.get(name), used, node.cpu_allocatable_millis, pod_millis, pod_gpus)

    # ------------------------------------------------------------ tables

    def refresh(self, store: ClusterStore) -> None:
        now = self.clock()
        facility_version = self.facility.version if self.facility is not None else 0
        state = _State(store.version, facility_version)
        if state == self._state and now < self._valid_until:
            return
        if (
            self._state is not None
            and state.store_version == self._state.store_version
            and now < self._valid_until
            and now - self._built_at < MIN_REBUILD_SECONDS
        ):
            return  # only the facility moved, and we rebuilt a moment ago
        snap = store.snapshot()
        curves: dict[str, PowerCurve | None] = {}
        valid_until = math.inf
        facility = self.facility
        for name, node in snap.nodes.items():
            curves[name] = self.curve(name, node, now)
            f = facility.node(name) if facility is not None else None
            if f is not None:
                valid_until = min(valid_until, next_expiry(f, now))
        with self._lock:
            self._nodes, self._requested, self._starting = (
                snap.nodes,
                snap.cpu_requested_millis,
                snap.cpu_starting_millis,
            )
            self._curves = curves
            self._tables = {}
            self._state = _State(snap.resource_version, facility_version)
            self._built_at = now
            self._valid_until = valid_until

    def _table(self, pod_millis: int, pod_gpus: int) -> _Increases:
        key = (pod_millis, pod_gpus)
        t = self._tables.get(key)
        if t is None:
            t = _Increases({name: self._increase(name, 0, pod_millis, pod_gpus) for name in self._nodes})
            with self._lock:
                if len(self._tables) >= _MAX_TABLES:
                    self._tables.clear()
                self._tables[key] = t
        return t

    # ------------------------------------------------------------ a request

    def scores(
        self, args: ExtenderArgs, idx: SupplyIndex, store: ClusterStore, assumed: Mapping[str, int]
    ) -> list[int]:
        """Integer scores 0..10 for ``args.names``, in order."""
        pod = args.pod
        demand = pod.demand
        names = args.names
        self.refresh(store)
        if idx is not self._index:  # a new plan: the bands changed
            for t in self._tables.values():
                t.scores.clear()
            self._index = idx
        table = self._table(pod.cpu_millis, pod.gpus)
        special = {n: self._increase(n, a, pod.cpu_millis, pod.gpus) for n, a in assumed.items()}
        # lowest/highest finite increase among the candidates, at C speed (nan for the rest is dropped)
        finite = list(filter(math.isfinite, map(table.finite.get, names, repeat(math.nan))))
        if special:
            in_request = set(names)
            finite += [x for n, x in special.items() if n in in_request and x is not None and math.isfinite(x)]
        lowest, highest = (min(finite), max(finite)) if finite else (0.0, 0.0)
        verdicts = idx.table(demand)

        def one(i: int, name: str, increase: float | None) -> int:
            v = verdicts.get(name)
            if v is None:
                supply = idx.supply(name, args.labels[i]) if args.full else idx.supply_from_store(name, self._nodes.get)
                v = idx.verdict(demand, supply)
            return v.band.base + power_points(v.band.span, increase, lowest, highest)

        if args.full:
            return [one(i, n, special[n] if n in special else table.by_name.get(n)) for i, n in enumerate(names)]
        by_score = self._score_table(table, idx, demand, lowest, highest)
        out: list[int | None] = list(map(by_score.get, names))
        if special or None in out:
            for i, name in enumerate(names):
                if name in special:
                    out[i] = one(i, name, special[name])
                elif out[i] is None:
                    out[i] = one(i, name, None)
        return out  # type: ignore[return-value]

    def _score_table(
        self, table: _Increases, idx: SupplyIndex, demand: DemandClass, lowest: float, highest: float
    ) -> dict[str, int]:
        key = (demand, lowest, highest)
        hit = table.scores.get(key)
        if hit is not None:
            return hit
        verdicts = idx.table(demand)
        nodes = self._nodes
        out = {}
        for name, increase in table.by_name.items():
            v = verdicts.get(name)
            if v is None:
                v = idx.verdict(demand, idx.supply_from_store(name, nodes.get))
            out[name] = v.band.base + power_points(v.band.span, increase, lowest, highest)
        if len(table.scores) >= _MAX_TABLES:
            table.scores.clear()
        table.scores[key] = out
        return out
