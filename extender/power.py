"""Power-aware prioritize: score nodes by the predicted watts a pod adds (``--power-aware-scoring``).

For each node: ``before`` = measured CPU usage (metrics-server, where fresh; else the CPU
requested by running pods) plus the pods bound but not running yet and the pods this
extender just placed there, those two at the assumption factor (default 0.5, as WAO);
``after = before + the pod's request``. The
increase is ``curve(after) - curve(before)`` on the node's power curve: the
collectors' (:mod:`joulie.facility`) for nodes a FacilityTelemetryTemplate configures
(``None``, so a neutral score, while not fresh), the default parametric model for
the others. The rule (bands, normalisation over the candidates, neutral and
overcommitted nodes) is :func:`joulie.core.power.power_scores`; this module computes
exactly the same numbers, vectorised.

Speed: the scheduler sends 5000 names per pod, serially. Per cluster state (store
version, facility version) the nodes' curves, allocatable and CPU in use are laid out
in numpy arrays once; per request the candidates are mapped to rows (one C-level
``map``), the increases of every row are computed for the pod's size (cached per
size) and the scores come out of a few array operations, so a new pod size or a new
cluster state costs about what the packing score's table rebuild costs. A facility
whose values keep moving rebuilds at most once per :data:`MIN_REBUILD_SECONDS`.
"""

from __future__ import annotations

import math
import operator
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat

import numpy as np
import numpy.typing as npt

from extender.supply import SupplyIndex
from extender.wire import ExtenderArgs
from joulie.api.labels import DemandClass
from joulie.core.facility import FacilityReadings, UsageReadings, fresh_curve, next_expiry
from joulie.core.model import NodeInfo
from joulie.core.power import (
    CURVE_POINTS,
    DEFAULT_ASSUMPTION_FACTOR,
    ParametricModel,
    PowerCurve,
    marginal_watts,
    power_points,
)
from joulie.core.store import ClusterStore

MIN_REBUILD_SECONDS = 1.0
_MAX_SIZES = 64

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class _Static:
    """What only changes with the node set, their labels or the facility: rows, curves, allocatable, bands."""

    def __init__(self, nodes: list[NodeInfo], curves: list[PowerCurve | None]) -> None:
        self.nodes = nodes
        self.names = [n.name for n in nodes]
        self.row = {name: i for i, name in enumerate(self.names)}
        self.curves = curves
        # Most nodes share a curve object (one per hardware class): lay out each distinct curve once.
        distinct: dict[int, int] = {}
        table: list[tuple[float, ...]] = [(0.0,) * CURVE_POINTS]
        extra: list[float] = [0.0]
        which = []
        for c in curves:
            if c is None:
                which.append(0)
                continue
            k = distinct.get(id(c))
            if k is None:
                k = distinct[id(c)] = len(table)
                table.append(c.watts)
                extra.append(c.gpu_busy_extra_watts)
            which.append(k)
        rows_of = np.asarray(which, dtype=np.int64)
        self.watts: Floats = np.asarray(table, dtype=np.float64)[rows_of]
        self.gpu_extra: Floats = np.asarray(extra, dtype=np.float64)[rows_of]
        self.alloc: Floats = np.fromiter((n.cpu_allocatable_millis for n in nodes), dtype=np.float64, count=len(nodes))
        self.known = (rows_of > 0) & (self.alloc > 0)
        self.bands: dict[tuple[int, DemandClass], tuple[Ints, Ints]] = {}

    def same_nodes(self, nodes: list[NodeInfo]) -> bool:
        return len(nodes) == len(self.nodes) and all(map(operator.is_, nodes, self.nodes))


class _Layout:
    """One cluster state: the static rows plus the CPU in use on each."""

    def __init__(self, static: _Static, used: Floats) -> None:
        self.static = static
        self.names = static.names
        self.row = static.row
        self.curves = static.curves
        self.watts = static.watts
        self.gpu_extra = static.gpu_extra
        self.alloc = static.alloc
        self.known = static.known
        self.used = used
        self.increases: dict[tuple[int, int], Floats] = {}

    def at(self, load: Floats) -> Floats:
        """:func:`joulie.core.power.curve_watts` of every row at its ``load`` (same operations, same floats)."""
        load = np.nan_to_num(load, nan=0.0, posinf=1.0, neginf=0.0)  # rows without allocatable: masked later
        x = np.minimum(1.0, np.maximum(0.0, load)) * 10.0
        i = np.minimum(9, x.astype(np.int64))
        rows = np.arange(len(x))
        lo = self.watts[rows, i]
        return lo + (self.watts[rows, i + 1] - lo) * (x - i)

    def increase(self, pod_millis: int, pod_gpus: int) -> Floats:
        """Per row: the increase, ``inf`` when overcommitted, ``nan`` when unknown."""
        key = (pod_millis, pod_gpus)
        hit = self.increases.get(key)
        if hit is not None:
            return hit
        with np.errstate(divide="ignore", invalid="ignore"):
            after = self.used + pod_millis
            inc = self.at(after / self.alloc) - self.at(self.used / self.alloc) + pod_gpus * self.gpu_extra
        inc = np.where(after > self.alloc, math.inf, inc)
        inc = np.where(self.known, inc, math.nan)
        if len(self.increases) >= _MAX_SIZES:
            self.increases.clear()
        self.increases[key] = inc
        return inc


class PowerScores:
    """Per-request power-aware scores; confined to the extender's worker thread, like the score tables."""

    def __init__(
        self,
        facility: FacilityReadings | None = None,
        default_model: ParametricModel | None = None,
        assumption_factor: float = DEFAULT_ASSUMPTION_FACTOR,
        clock: Callable[[], float] = time.time,
        usage: UsageReadings | None = None,
    ) -> None:
        self.facility = facility
        self.usage = usage
        """Measured CPU usage (metrics-server); without it, or where stale, the running pods' requests."""
        self.default_model = default_model if default_model is not None else ParametricModel()
        self.factor = assumption_factor
        self.clock = clock
        self._lock = threading.Lock()
        self._state: tuple[int, int, int] | None = None
        self._built_at = -math.inf
        self._valid_until = math.inf
        self._static: _Static | None = None
        self._static_version = -1
        self._measured: tuple[int, _Static, float, Floats] | None = None
        self._layout = _Layout(_Static([], []), np.zeros(0))
        self._nodes: Mapping[str, NodeInfo] = {}
        self._rows_memo: tuple[Sequence[str], _Layout, Ints] | None = None
        self._reply_memo: tuple[tuple[object, ...], list[int]] | None = None

    def curve(self, name: str, node: NodeInfo | None, now: float) -> PowerCurve | None:
        """The node's curve: the collectors' when a template configures it (``None`` while not fresh), else the default."""
        facility = self.facility.node(name) if self.facility is not None else None
        if facility is not None:
            return fresh_curve(facility, now)
        return self.default_model.curve(node.gpu_allocatable if node is not None else 0)

    # ------------------------------------------------------------ state

    def refresh(self, store: ClusterStore) -> None:
        now = self.clock()
        state = (
            store.version,
            self.facility.version if self.facility is not None else 0,
            self.usage.version if self.usage is not None else 0,
        )
        if now < self._valid_until and (
            state == self._state
            or (
                self._state is not None
                and state[0] == self._state[0]
                and now - self._built_at < MIN_REBUILD_SECONDS  # only the facility or usage moved, a moment ago
            )
        ):
            return
        snap = store.snapshot()
        nodes = list(snap.nodes.values())
        static = self._static
        if (
            static is None
            or state[1] != self._static_version
            or now >= self._valid_until
            or not static.same_nodes(nodes)
        ):
            valid_until = math.inf
            curves = []
            facility = self.facility
            for node in nodes:
                curves.append(self.curve(node.name, node, now))
                f = facility.node(node.name) if facility is not None else None
                if f is not None:
                    valid_until = min(valid_until, next_expiry(f, now))
            static = _Static(nodes, curves)
            self._static, self._static_version, self._valid_until = static, state[1], valid_until
        n = len(static.names)
        requested = np.fromiter(map(snap.cpu_requested_millis.get, static.names, repeat(0)), dtype=np.float64, count=n)
        starting = np.fromiter(map(snap.cpu_starting_millis.get, static.names, repeat(0)), dtype=np.float64, count=n)
        running = requested - starting
        measured = self._measured_usage(static, state[2], now)
        if measured is not None:
            running = np.where(np.isnan(measured), running, measured)
        used: Floats = running + self.factor * starting  # load_before(), array-wise: the same floats
        layout = _Layout(static, used)
        with self._lock:
            self._layout, self._nodes = layout, snap.nodes
            self._state = (snap.resource_version, state[1], state[2])
            self._built_at = now

    def _measured_usage(self, static: _Static, version: int, now: float) -> Floats | None:
        """Per row: measured millicores, ``nan`` where there is no fresh sample (kept for a second)."""
        usage = self.usage
        if usage is None:
            return None
        hit = self._measured
        if hit is not None and hit[0] == version and hit[1] is static and now - hit[2] < MIN_REBUILD_SECONDS:
            return hit[3]
        values = [usage.cpu_usage_millis(name, now) for name in static.names]
        out: Floats = np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
        self._measured = (version, static, now, out)
        return out

    def _bands(self, layout: _Layout, idx: SupplyIndex, demand: DemandClass) -> tuple[Ints, Ints]:
        key = (id(idx), demand)
        cache = layout.static.bands
        hit = cache.get(key)
        if hit is not None:
            return hit
        if any(k[0] != key[0] for k in cache):
            cache.clear()  # one plan at a time
        verdicts = idx.table(demand)
        nodes = self._nodes
        base, span = [], []
        for name in layout.names:
            v = verdicts.get(name)
            if v is None:
                v = idx.verdict(demand, idx.supply_from_store(name, nodes.get))
            base.append(v.band.base)
            span.append(v.band.span)
        out = (np.asarray(base, dtype=np.int64), np.asarray(span, dtype=np.int64))
        cache[key] = out
        return out

    def _one_increase(
        self, layout: _Layout, name: str, assumed_millis: int, pod_millis: int, pod_gpus: int
    ) -> float | None:
        i = layout.row.get(name)
        if i is None:
            return None
        used = layout.used[i] + self.factor * assumed_millis
        return marginal_watts(layout.curves[i], float(used), int(layout.alloc[i]), pod_millis, pod_gpus)

    # ------------------------------------------------------------ a request

    def scores(
        self, args: ExtenderArgs, idx: SupplyIndex, store: ClusterStore, assumed: Mapping[str, int]
    ) -> list[int]:
        """Integer scores 0..10 for ``args.names``, in order."""
        self.refresh(store)
        layout = self._layout
        pod = args.pod
        names: Sequence[str] = args.names
        # Names mode: the scheduler sends the same (shared) candidate tuple pod after pod.
        key = (names, layout, idx, pod.demand, pod.cpu_millis, pod.gpus)
        memo = self._reply_memo
        if not assumed and not args.full and memo is not None and all(a is b or a == b for a, b in zip(memo[0], key)):
            return list(memo[1])
        rows_memo = self._rows_memo
        if rows_memo is not None and rows_memo[0] is names and rows_memo[1] is layout:
            rows = rows_memo[2]
        else:
            rows = np.fromiter(map(layout.row.get, names, repeat(-1)), dtype=np.int64, count=len(names))
            if not args.full:
                self._rows_memo = (names, layout, rows)
        inc_all = layout.increase(pod.cpu_millis, pod.gpus)
        inc = np.where(rows >= 0, inc_all[rows], math.nan)
        for name, millis in assumed.items():  # a handful of nodes: C-level scans beat a pass over 5000 names
            x = self._one_increase(layout, name, millis, pod.cpu_millis, pod.gpus)
            start = 0
            while True:
                try:
                    i = names.index(name, start)
                except ValueError:
                    break
                inc[i] = math.nan if x is None else x
                start = i + 1
        finite = np.isfinite(inc)
        lowest, highest = (float(inc[finite].min()), float(inc[finite].max())) if finite.any() else (0.0, 0.0)
        base_all, span_all = self._bands(layout, idx, pod.demand)
        base = base_all[rows]
        span = span_all[rows]
        if highest > lowest:
            with np.errstate(invalid="ignore"):
                points = np.floor(span * (highest - inc) / (highest - lowest) + 0.5)
        else:
            points = span.astype(np.float64)
        points = np.where(np.isnan(inc), span // 2, np.where(np.isinf(inc), 0, points))
        out: list[int] = (base + points.astype(np.int64)).tolist()
        if args.full or (rows < 0).any():
            # nodes the store does not know (and, in full mode, every node: the request's labels decide)
            self._fill_from_verdicts(out, args, idx, rows, inc, lowest, highest)
        if not assumed and not args.full:
            self._reply_memo = (key, out)
            return list(out)
        return out

    def _fill_from_verdicts(
        self,
        out: list[int],
        args: ExtenderArgs,
        idx: SupplyIndex,
        rows: Ints,
        inc: Floats,
        lowest: float,
        highest: float,
    ) -> None:
        verdicts = idx.table(args.pod.demand)
        for i, name in enumerate(args.names):
            if rows[i] >= 0 and not args.full:
                continue
            v = verdicts.get(name)
            if v is None:
                supply = idx.supply(name, args.labels[i]) if args.full else idx.supply_from_store(name, self._nodes.get)
                v = idx.verdict(args.pod.demand, supply)
            x = float(inc[i])
            out[i] = v.band.base + power_points(v.band.span, None if math.isnan(x) else x, lowest, highest)
