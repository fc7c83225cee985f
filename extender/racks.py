"""Rack power limits of the PowerCappingPolicies, per pod: filter out racks the pod would push over
their ``maxPower``, and prefer racks with room.

The plan says how many watts each limited rack may still add (``maxPower`` minus what its
nodes measured at the last reconcile, :class:`joulie.core.plan.PowerGuard`). Between two
reconciles the extender itself adds load: pods it just placed (the assumed pods of
prioritize) are not in any measurement yet, so their predicted watts are taken off the
rack's room before the next pod is judged. Predictions are ``curve(after) - curve(before)``
on the node's power curve (:func:`joulie.core.power.marginal_watts`): the facility's
predictor where one is configured, else the parametric model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from extender.scoring import ScoreTables
from extender.wire import PodFacts
from joulie.core.budget import headroom_factor, rack_rejection
from joulie.core.model import NodeInfo
from joulie.core.plan import PowerGuard
from joulie.core.power import ParametricModel, PowerCurve, marginal_watts

CurveOf = Callable[[str, NodeInfo | None, float], PowerCurve | None]


class RackRoom:
    """Per-request view of the limited racks: what was placed there since the last measurement.

    Nodes and their requested CPU come from the extender's score tables (refreshed once per
    store version), so a request builds no snapshot of its own."""

    def __init__(
        self,
        guards: Mapping[str, PowerGuard],
        tables: ScoreTables,
        assumed: Mapping[str, int],
        curve_of: CurveOf,
        now: float,
    ) -> None:
        self.guards = guards
        self.tables = tables
        self.assumed = assumed
        self.curve_of = curve_of
        self.now = now
        self.pending: dict[str, float] = {}
        """Predicted watts of the assumed pods per rack."""
        for name, millis in assumed.items():
            guard = self._limited(name)
            if guard is not None and guard.rack is not None:
                w = self._watts(name, tables.requested(name), millis, 0)
                if w is not None and w != float("inf"):
                    self.pending[guard.rack] = self.pending.get(guard.rack, 0.0) + w

    def _limited(self, name: str) -> PowerGuard | None:
        guard = self.guards.get(name)
        return guard if guard is not None and guard.rack is not None and guard.rack_headroom_watts is not None else None

    def _watts(self, name: str, used: int, pod_millis: int, pod_gpus: int) -> float | None:
        node = self.tables.node(name)
        if node is None:
            return None
        return marginal_watts(
            self.curve_of(name, node, self.now), used, node.cpu_allocatable_millis, pod_millis, pod_gpus
        )

    def pod_watts(self, name: str, pod: PodFacts) -> float | None:
        used = self.tables.requested(name) + self.assumed.get(name, 0)
        return self._watts(name, used, pod.cpu_millis, pod.gpus)

    def rejection(self, name: str, pod: PodFacts) -> str | None:
        guard = self._limited(name)
        if guard is None:
            return None
        return rack_rejection(guard, self.pending.get(guard.rack or "", 0.0), self.pod_watts(name, pod))

    def factor(self, name: str, pod: PodFacts) -> float:
        guard = self._limited(name)
        if guard is None:
            return 1.0
        return headroom_factor(guard, self.pending.get(guard.rack or "", 0.0), self.pod_watts(name, pod))


class RackLimits:
    """Builds a :class:`RackRoom` per request from the plan's guards."""

    def __init__(
        self,
        curve_of: CurveOf | None = None,
        model: ParametricModel | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.model = model if model is not None else ParametricModel()
        self.curve_of = curve_of if curve_of is not None else self._default_curve
        self.clock = clock

    def _default_curve(self, _name: str, node: NodeInfo | None, _now: float) -> PowerCurve:
        return self.model.curve(node.gpu_allocatable if node is not None else 0)

    def room(self, guards: Mapping[str, PowerGuard], tables: ScoreTables, assumed: Mapping[str, int]) -> RackRoom:
        return RackRoom(guards, tables, assumed, self.curve_of, self.clock())

    def filter(
        self,
        room: RackRoom,
        pod: PodFacts,
        names: Sequence[str],
        passed: list[int],
    ) -> tuple[list[int], dict[str, str]]:
        """``passed`` without the nodes whose rack cannot take the pod, and why each was dropped."""
        kept: list[int] = []
        dropped: dict[str, str] = {}
        for i in passed:
            why = room.rejection(names[i], pod)
            if why is None:
                kept.append(i)
            else:
                dropped[names[i]] = why
        return kept, dropped

    def adjust(self, room: RackRoom, pod: PodFacts, names: Sequence[str], scores: list[int]) -> list[int]:
        """Scores of nodes in limited racks lowered (down to half) as the rack's room runs out."""
        guards = room.guards
        out = list(scores)
        for i, name in enumerate(names):
            if name in guards:
                f = room.factor(name, pod)
                if f < 1.0:
                    out[i] = int(out[i] * f)
        return out
