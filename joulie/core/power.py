"""Pure power models: a node's draw at a CPU load, and the power-aware score rule.

**Load curve.** A server's wall power at CPU utilisation ``u`` follows a
SPECpower_ssj2008-style curve: eleven points (active idle, then 10 % ... 100 % load),
linearly interpolated. The digital twin (:mod:`simulator.hardware`) draws its CPU
servers with this function, and the ``Parametric`` predictor of the facility
telemetry predicts with it, so the extender and the twin agree on what a placement
costs. :data:`REFERENCE_CURVE_WATTS` is the twin's default server (sources in
``docs/simulator.md``).

**Power curve of a node.** Whatever predicts power (the parametric model, a V2
inference endpoint, a fake), the extender only reads a :class:`PowerCurve`: the
predicted watts at the eleven load points, sampled by the collector in the
background, so a scheduling request never waits for a predictor.

**Power-aware score** (integers 0..10; see :func:`power_scores`): within the score
band the node's supply gives it (:func:`joulie.core.supply.band`: supply and draining
rules keep priority over watts), the node whose placement adds the fewest predicted
watts gets the top of its band and the one adding the most the bottom, linearly in
between. A node the pod would overcommit gets the bottom of its band; a node with no
or stale telemetry gets the middle, never the top: "no data" must not look like the
cheapest node.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from joulie.core.supply import Band

CURVE_POINTS: Final = 11
"""Load points of a curve: 0 %, 10 %, ..., 100 %."""

REFERENCE_CURVE_WATTS: Final[tuple[float, ...]] = (115, 190, 235, 275, 315, 355, 395, 440, 490, 540, 590)
"""Wall watts of the twin's default CPU server (2x Xeon Platinum 8380) at idle, 10 %, ..., 100 %."""

DEFAULT_ASSUMPTION_FACTOR: Final = 0.5
"""Share of its CPU request a pod bound (or just placed) but not running yet is assumed to use (WAO's default)."""


def curve_watts(curve: Sequence[float], load: float) -> float:
    """Watts at ``load`` (0..1, clamped) by linear interpolation between the 10 % points."""
    x = min(1.0, max(0.0, load)) * 10.0
    i = min(9, int(x))
    return curve[i] + (curve[i + 1] - curve[i]) * (x - i)


def validate_curve(curve: Sequence[float]) -> tuple[float, ...]:
    """``curve`` as a tuple, or ``ValueError``: 11 finite, positive, non-decreasing points."""
    points = tuple(float(v) for v in curve)
    if len(points) != CURVE_POINTS:
        raise ValueError(f"a load curve needs {CURVE_POINTS} points (idle, 10 %, ..., 100 %), got {len(points)}")
    if not all(math.isfinite(v) for v in points) or points[0] <= 0:
        raise ValueError("load curve points must be finite and positive")
    if any(b < a for a, b in itertools.pairwise(points)):
        raise ValueError("load curve points must not decrease with load")
    return points


@dataclass(frozen=True, slots=True)
class PowerCurve:
    """Predicted node watts at 0 %, 10 %, ..., 100 % CPU load, plus the watts one busy GPU adds."""

    watts: tuple[float, ...]
    gpu_busy_extra_watts: float = 0.0
    """What one GPU running a job adds over the same GPU idle (0 when the model has no GPUs)."""

    def at(self, load: float) -> float:
        return curve_watts(self.watts, load)


@dataclass(frozen=True, slots=True)
class ParametricModel:
    """Watts from a hardware class and its utilisation: the twin's model, parameters configurable."""

    curve_watts: tuple[float, ...] = REFERENCE_CURVE_WATTS
    gpu_idle_watts: float = 55.0
    gpu_busy_watts: float = 360.0
    """Per GPU (the twin's A100 SXM4); used only on nodes that have GPUs."""

    def __post_init__(self) -> None:
        validate_curve(self.curve_watts)
        if not 0 <= self.gpu_idle_watts <= self.gpu_busy_watts:
            raise ValueError("need 0 <= gpuIdleWatts <= gpuBusyWatts")

    @functools.lru_cache(maxsize=256)  # noqa: B019 - a few models live for the process: one curve object per class
    def curve(self, gpus: int = 0) -> PowerCurve:
        """The node's curve; a node with ``gpus`` idle GPUs draws their idle power at every load.

        Cached: every node of one hardware class shares one curve object (the power-aware
        score lays out each distinct curve once)."""
        idle = self.gpu_idle_watts * gpus
        extra = self.gpu_busy_watts - self.gpu_idle_watts if gpus else 0.0
        return PowerCurve(tuple(w + idle for w in self.curve_watts), extra)


def load_before(running_millis: float, starting_millis: float, factor: float) -> float:
    """CPU in use before the pod: running usage plus pods bound or placed but not running, at ``factor``."""
    return running_millis + factor * starting_millis


UNKNOWN: Final = None
"""Increase of a node with no or stale telemetry."""
OVERCOMMITTED: Final = math.inf
"""Increase of a node the pod would overcommit."""


def marginal_watts(
    curve: PowerCurve | None, used_millis: float, alloc_millis: int, pod_millis: int, pod_gpus: int = 0
) -> float | None:
    """Predicted watts the pod adds to the node: ``after - before``.

    ``None`` (:data:`UNKNOWN`) without a curve or allocatable CPU; ``inf``
    (:data:`OVERCOMMITTED`) when ``before + pod`` exceeds allocatable.
    """
    if curve is None or alloc_millis <= 0:
        return UNKNOWN
    after = used_millis + pod_millis
    if after > alloc_millis:
        return OVERCOMMITTED
    cpu = curve.at(after / alloc_millis) - curve.at(used_millis / alloc_millis)
    return cpu + pod_gpus * curve.gpu_busy_extra_watts


def neutral_points(span: int) -> int:
    """Points of a node without (fresh) telemetry: the middle of its band, rounded down."""
    return span // 2


def power_points(span: int, increase: float | None, lowest: float, highest: float) -> int:
    """Points within a band of ``span`` for ``increase`` among candidates spanning ``lowest..highest``."""
    if increase is None:
        return neutral_points(span)
    if increase == OVERCOMMITTED:
        return 0
    if highest <= lowest:
        return span
    # int(x + 0.5) is round-half-away-from-zero for x >= 0 (the extender's rounding everywhere)
    return int(span * (highest - increase) / (highest - lowest) + 0.5)


def increase_range(increases: Sequence[float | None]) -> tuple[float, float] | None:
    """(lowest, highest) of the finite increases, or ``None`` when no candidate has one."""
    finite = [x for x in increases if x is not None and x != OVERCOMMITTED]
    if not finite:
        return None
    return min(finite), max(finite)


def power_scores(bands: Sequence[Band], increases: Sequence[float | None]) -> list[int]:
    """Scores of candidates with ``bands`` and predicted ``increases`` (same order): the reference rule.

    The extender computes the same numbers from lookup tables (:mod:`extender.power`);
    the simulator calls this directly.
    """
    span = increase_range(increases)
    lowest, highest = span if span is not None else (0.0, 0.0)
    return [b.base + power_points(b.span, x, lowest, highest) for b, x in zip(bands, increases)]
