"""Power budgets: turn a cluster (and per-rack) power limit into per-node caps. Pure.

A budget is enforced through the caps the agents already apply (CPU package caps through
RAPL or DVFS, GPU board limits through NVML). Measured node power has three parts:

- what no cap removes (``overhead_watts``: the rest of the node, fans, memory, PSU losses,
  and the packages' and GPUs' own idle draw below their lowest cap);
- package power, bounded by ``packages x cap`` (a cap never goes below the hardware's
  minimum, nor above the cap the node would get without a budget);
- GPU power, bounded by ``gpus x gpu cap`` likewise.

So a node can never be made to draw less than its *floor*
(``overhead + packages x package_min + gpus x gpu_min``), and a budget below the sum of
floors cannot be met by caps at all: that is reported as a shortfall, never promised.

The split (:func:`split`) gives every node its floor, then reserves for performance nodes
their *want* (what they draw now, plus a margin, up to their uncapped ceiling), then serves
eco and general nodes; only when performance alone exceeds the budget are performance nodes
cut too (``insufficient``). While the budget covers them, performance nodes keep their
ceilings: their share is a reservation, and a performance pod is never slowed by a budget it
fits (if their draw grows, the next reconcile cuts the others). What is left is spread back
so caps are not tighter than they need be. Each capped node's share becomes caps: watts above
the overhead go to packages and GPUs in proportion to their wants. The shares never exceed
the budget, so what the capped nodes can draw plus what the performance nodes draw never
does either.

Telemetry that is stale or missing never raises a cap: such a node keeps its current caps
and its share is what those caps allow (:attr:`NodePower.fresh`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from joulie.api.labels import PERFORMANCE
from joulie.core.plan import PowerGuard


class Priority(Enum):
    """Who is served first: performance nodes, then everyone else."""

    PERFORMANCE = "performance"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CapRange:
    """Caps one device accepts, in watts per device: the hardware's minimum, and the ceiling the
    node would run at without a budget (its profile's cap, clamped to the hardware maximum)."""

    minimum: float
    ceiling: float


CAP_BOUND_FRACTION = 0.95
"""A device drawing at least this share of its cap is held back by it (RAPL and NVML hold a limit
on average, a little under it)."""


@dataclass(frozen=True, slots=True)
class NodePower:
    """One node as the budget sees it."""

    name: str
    priority: Priority
    overhead_watts: float
    """Drawn whatever the caps (see the module docstring)."""
    packages: int
    package_caps: CapRange
    package_watts: float
    """Measured package power, all packages together."""
    gpus: int = 0
    gpu_caps: CapRange = CapRange(0.0, 0.0)
    gpu_watts: float = 0.0
    """Measured GPU power, all GPUs together."""
    rack: str | None = None
    fresh: bool = True
    """Telemetry is recent: its caps may move. A stale node keeps ``current_*`` caps."""
    current_package_cap: float | None = None
    current_gpu_cap: float | None = None

    @property
    def floor(self) -> float:
        return self.overhead_watts + self.packages * self.package_caps.minimum + self.gpus * self.gpu_caps.minimum

    @property
    def ceiling(self) -> float:
        return self.overhead_watts + self.packages * self.package_caps.ceiling + self.gpus * self.gpu_caps.ceiling

    @property
    def measured(self) -> float:
        return self.overhead_watts + self.package_watts + self.gpu_watts

    @property
    def cap_bound(self) -> bool:
        """Held back by a cap lower than its ceiling: it draws (nearly) what the cap allows, so what it
        draws says nothing about what it wants."""
        if self.packages and self.current_package_cap is not None:
            cap = min(self.current_package_cap, self.package_caps.ceiling)
            if cap < self.package_caps.ceiling - 0.5 and self.package_watts >= CAP_BOUND_FRACTION * self.packages * cap:
                return True
        if self.gpus and self.current_gpu_cap is not None:
            cap = min(self.current_gpu_cap, self.gpu_caps.ceiling)
            if cap < self.gpu_caps.ceiling - 0.5 and self.gpu_watts >= CAP_BOUND_FRACTION * self.gpus * cap:
                return True
        return False

    def draw_under(self, package_cap: float | None, gpu_cap: float | None) -> float:
        """Most the node can draw under these caps (per device; ``None``: its ceiling)."""
        pkg = package_cap if package_cap is not None else self.package_caps.ceiling
        gpu = gpu_cap if gpu_cap is not None else self.gpu_caps.ceiling
        return (
            self.overhead_watts
            + self.packages * min(pkg, self.package_caps.ceiling)
            + self.gpus * min(gpu, self.gpu_caps.ceiling)
        )

    def held(self) -> float:
        """What a stale node may draw under the caps it keeps."""
        return self.draw_under(self.current_package_cap, self.current_gpu_cap)


@dataclass(frozen=True, slots=True)
class NodeShare:
    """A node's part of the budget and the caps that keep it there."""

    name: str
    share_watts: float
    package_cap_watts: float | None
    """Per package; ``None`` when the node has no packages to cap."""
    gpu_cap_watts: float | None
    """Per GPU; ``None`` without GPUs."""
    capped: bool
    """Below the cap the node would get without a budget."""
    reason: str


@dataclass(frozen=True, slots=True)
class Split:
    budget_watts: float
    shares: Mapping[str, NodeShare]
    floor_watts: float
    """Least the nodes can be made to draw."""
    performance_want_watts: float
    insufficient: bool
    """Performance nodes had to be cut (or even the floors exceed the budget)."""
    shortfall_watts: float
    """Watts the budget lacks to serve performance fully (or to cover the floors)."""
    extra: Mapping[str, str] = field(default_factory=dict)


def want(node: NodePower, margin: float) -> float:
    """What the node should get: measured draw plus ``margin`` (a fraction), within floor..ceiling.

    A node held back by its cap may want more than it shows: it asks for its ceiling, and the
    split shares the budget out among such nodes (water-fill) instead of growing them by ``margin``
    a reconcile at a time."""
    if not node.fresh:
        return node.held()
    if node.cap_bound:
        return node.ceiling
    return min(node.ceiling, max(node.floor, node.measured * (1.0 + margin)))


def potential(node: NodePower, share: NodeShare) -> float:
    """Most the node can draw under the caps of ``share`` (a reservation under ceiling caps is no limit)."""
    return node.draw_under(share.package_cap_watts, share.gpu_cap_watts)


def tighter(a: NodeShare, b: NodeShare) -> NodeShare:
    """The lower caps of two shares of the same node (device by device), with the reason of the one that binds."""

    def low(x: float | None, y: float | None) -> float | None:
        return y if x is None else x if y is None else min(x, y)

    pkg, gpu = low(a.package_cap_watts, b.package_cap_watts), low(a.gpu_cap_watts, b.gpu_cap_watts)
    if (pkg, gpu) == (a.package_cap_watts, a.gpu_cap_watts):
        return a
    if (pkg, gpu) == (b.package_cap_watts, b.gpu_cap_watts):
        return b
    return NodeShare(a.name, min(a.share_watts, b.share_watts), pkg, gpu, True, f"{a.reason}; {b.reason}")


def water_fill(extra: Mapping[str, float], amount: float) -> dict[str, float]:
    """Give ``amount`` to the keys of ``extra`` (each wanting ``extra[k]``) at one common level:
    everyone gets ``min(want, level)``. Returns what each gets; the total is ``min(amount, sum)``."""
    if amount <= 0 or not extra:
        return {k: 0.0 for k in extra}
    total = sum(extra.values())
    if amount >= total:
        return dict(extra)
    items = sorted(extra.items(), key=lambda kv: kv[1])
    remaining, left = amount, len(items)
    out: dict[str, float] = {}
    for key, wanted in items:
        level = remaining / left
        give = min(wanted, level)
        out[key] = give
        remaining -= give
        left -= 1
    return out


def proportional(extra: Mapping[str, float], amount: float) -> dict[str, float]:
    """Give ``amount`` to each key in proportion to what it wants (capped at its want)."""
    total = sum(extra.values())
    if amount <= 0 or total <= 0:
        return {k: 0.0 for k in extra}
    frac = min(1.0, amount / total)
    return {k: v * frac for k, v in extra.items()}


Filler = Callable[[Mapping[str, float], float], dict[str, float]]
"""How watts are spread within a class: :func:`water_fill` (one common level) or :func:`proportional`."""


def split(
    nodes: Sequence[NodePower],
    budget_watts: float,
    margin: float = 0.1,
    priorities: bool = True,
    fill: Filler = water_fill,
) -> Split:
    """Shares of ``budget_watts`` (see the module docstring). ``priorities=False`` treats every node
    alike (the proportional algorithm); ``fill`` spreads watts within a class."""
    movable = [n for n in nodes if n.fresh]
    held = {n.name: n.held() for n in nodes if not n.fresh}
    floors = {n.name: n.floor for n in movable}
    wants = {n.name: want(n, margin) for n in movable}
    shares: dict[str, float] = dict(floors)
    floor_total = sum(floors.values()) + sum(held.values())
    remaining = budget_watts - floor_total
    perf = {n.name: wants[n.name] - floors[n.name] for n in movable if n.priority is Priority.PERFORMANCE}
    other = {n.name: wants[n.name] - floors[n.name] for n in movable if n.priority is not Priority.PERFORMANCE}
    perf_want = sum(wants[k] for k in perf)
    shortfall = 0.0
    insufficient = remaining < 0
    if insufficient:
        shortfall = -remaining  # even the floors do not fit: every node stays at its minimum
        remaining = 0.0
    else:
        classes = [perf, other] if priorities else [{**perf, **other}]
        for i, cls in enumerate(classes):
            given = fill(cls, remaining)
            for k, v in given.items():
                shares[k] += v
            used = sum(given.values())
            remaining -= used
            if i == 0 and priorities and sum(cls.values()) > used + 1e-6:
                insufficient = True  # performance alone exceeds what the budget leaves
                shortfall = sum(cls.values()) - used
    # Performance nodes keep their ceilings while the budget covers what they draw: their share
    # is a reservation, not a cap, so a performance pod is never slowed by a budget it fits.
    spared = priorities and not insufficient
    if remaining > 1e-9:
        # Spread what is left up to the nodes' ceilings: caps tighter than the budget needs
        # would slow work for nothing.
        by_node = {n.name: n for n in movable}
        order = (Priority.OTHER,) if spared else (Priority.PERFORMANCE, Priority.OTHER)
        for priority in order:
            room = {k: by_node[k].ceiling - shares[k] for k in shares if by_node[k].priority is priority}
            given = water_fill(room, remaining)
            for k, v in given.items():
                shares[k] += v
            remaining -= sum(given.values())
    out: dict[str, NodeShare] = {}
    for n in nodes:
        if n.fresh and spared and n.priority is Priority.PERFORMANCE:
            out[n.name] = NodeShare(
                n.name,
                shares[n.name],
                n.package_caps.ceiling if n.packages else None,
                n.gpu_caps.ceiling if n.gpus else None,
                capped=False,
                reason=f"performance first: {shares[n.name]:.0f} W reserved for what it draws, caps untouched",
            )
            continue
        if not n.fresh:
            out[n.name] = NodeShare(
                n.name,
                held[n.name],
                n.current_package_cap if n.packages else None,
                n.current_gpu_cap if n.gpus else None,
                capped=False,
                reason="telemetry stale: caps kept as they are, never raised",
            )
            continue
        out[n.name] = _caps(n, shares[n.name], wants[n.name])
    return Split(budget_watts, out, floor_total, perf_want, insufficient, shortfall)


def caps_for(node: NodePower, share: float) -> NodeShare:
    """The caps that keep ``node`` within ``share`` watts."""
    return _caps(node, share, want(node, 0.0))


def _caps(node: NodePower, share: float, wanted: float) -> NodeShare:
    """Caps that keep ``node`` within ``share``: watts above the overhead split between packages
    and GPUs in proportion to what each wants above its minimum."""
    dynamic = max(0.0, share - node.overhead_watts)
    pkg_min = node.packages * node.package_caps.minimum
    gpu_min = node.gpus * node.gpu_caps.minimum
    pkg_room = node.packages * node.package_caps.ceiling - pkg_min
    gpu_room = node.gpus * node.gpu_caps.ceiling - gpu_min
    above = max(0.0, dynamic - pkg_min - gpu_min)
    pkg_want = max(0.0, min(node.package_watts * 1.0, node.packages * node.package_caps.ceiling) - pkg_min)
    gpu_want = max(0.0, min(node.gpu_watts * 1.0, node.gpus * node.gpu_caps.ceiling) - gpu_min)
    if pkg_want + gpu_want <= 0:
        pkg_want, gpu_want = pkg_room, gpu_room
    total_want = pkg_want + gpu_want
    pkg_extra = above * (pkg_want / total_want) if total_want > 0 else 0.0
    gpu_extra = above - pkg_extra
    # what one side cannot use goes to the other
    if pkg_extra > pkg_room:
        gpu_extra += pkg_extra - pkg_room
        pkg_extra = pkg_room
    if gpu_extra > gpu_room:
        pkg_extra = min(pkg_room, pkg_extra + gpu_extra - gpu_room)
        gpu_extra = gpu_room
    pkg_cap = (pkg_min + pkg_extra) / node.packages if node.packages else None
    gpu_cap = (gpu_min + gpu_extra) / node.gpus if node.gpus else None
    capped = (pkg_cap is not None and pkg_cap < node.package_caps.ceiling - 0.5) or (
        gpu_cap is not None and gpu_cap < node.gpu_caps.ceiling - 0.5
    )
    if not capped:
        reason = f"within budget: {share:.0f} W share covers its ceiling"
    elif share + 0.5 < wanted:
        reason = f"cut by the budget: {share:.0f} W of the {wanted:.0f} W it wants"
    else:
        reason = f"budget share {share:.0f} W (draws {node.measured:.0f} W)"
    return NodeShare(
        node.name,
        share,
        _round_down(pkg_cap) if pkg_cap is not None else None,
        _round_down(gpu_cap) if gpu_cap is not None else None,
        capped,
        reason,
    )


def _round_down(watts: float) -> float:
    """Caps are written in whole watts, rounded down so the sum stays within the budget."""
    return float(math.floor(watts + 1e-9))


# ------------------------------------------------------------------ racks and heat


class ThermalStage(Enum):
    """The staged response of a rack above its temperature limit; each stage includes the previous."""

    NORMAL = 0
    NO_NEW_WORK = 1
    """The extender places no new eco or general pods in the rack."""
    ECO_CAPPED = 2
    """Eco and general nodes of the rack run at their minimum caps."""
    ALL_CAPPED = 3
    """Performance nodes of the rack too."""


def next_stage(stage: ThermalStage, temperature: float | None, limit: float, margin: float) -> ThermalStage:
    """One reconcile of the rack's thermal stage, with hysteresis.

    Above ``limit`` the response escalates one stage per reconcile; it clears (back to normal)
    only once the temperature is below ``limit - margin``; in between it holds. No reading
    holds the stage (heat that cannot be seen is not heat that went away).
    """
    if temperature is None:
        return stage
    if temperature > limit:
        return ThermalStage(min(ThermalStage.ALL_CAPPED.value, stage.value + 1))
    if temperature < limit - margin:
        return ThermalStage.NORMAL
    return stage


def thermal_caps(node: NodePower, stage: ThermalStage) -> bool:
    """Whether ``stage`` pins ``node`` to its minimum caps."""
    if stage is ThermalStage.ALL_CAPPED:
        return True
    return stage is ThermalStage.ECO_CAPPED and node.priority is not Priority.PERFORMANCE


# ------------------------------------------------------------------ staying under the limit


def setpoint(limit: float, margin_percent: float) -> float:
    """What the split aims at: ``margin_percent`` below the limit, room for load that lands between
    two reconciles (new pods raise power before the next measurement)."""
    return limit * (1.0 - margin_percent / 100.0)


def next_trim(trim: float, measured: float, target: float, most: float, binding: bool) -> float:
    """Integral correction of the split: watts taken off the budget because measured power ends above
    what capped shares add up to (memory, fans and VRs draw more as load grows; caps round down
    to whole watts but the hardware holds them on average).

    Only an excess under caps that were already binding (``binding``: the last split capped some
    node) is the split's own error; an excess before any cap took hold is load the next split
    absorbs anyway. Above ``target`` the whole error is taken off at once; below it, half the gap
    is given back per reconcile, so a cut no longer needed fades within a few reconciles. Between
    0 and ``most``.
    """
    error = measured - target
    if error > 0:
        return min(most, trim + error) if binding else trim
    return max(0.0, trim + error / 2.0)


# ------------------------------------------------------------------ performance per watt


def ratio_scale(
    scale: float, ratio: float | None, target: float, tolerance: float, step: float = 0.05, lowest: float = 0.2
) -> float:
    """The next multiplier on the budget above the floors, steering performance per watt to ``target``.

    Below ``target * (1 - tolerance)`` caps go up (more of the budget is handed out), above
    ``target * (1 + tolerance)`` they come down; inside the band nothing moves, which is what
    keeps it from oscillating. Never above 1 (the budget) nor below ``lowest``; no reading holds.
    """
    if ratio is None:
        return scale
    if ratio < target * (1 - tolerance):
        return min(1.0, scale + step)
    if ratio > target * (1 + tolerance):
        return max(lowest, scale - step)
    return scale


# ------------------------------------------------------------------ placement under a budget


def guard_rejection(demand: str, guard: PowerGuard | None) -> str | None:
    """Why a budget keeps new ``demand`` work off a node whatever the pod's size (``None``: it does not).

    Performance work is never turned away here: a hot rack caps it instead (stage 3), and
    the rack power limit below applies to every class.
    """
    if guard is None or demand == PERFORMANCE:
        return None
    if guard.stage >= ThermalStage.NO_NEW_WORK.value:
        return (
            f"rack {guard.rack} is over its temperature limit (PowerCappingPolicy {guard.policy}, stage "
            f"{guard.stage}): no new eco or general work"
        )
    if guard.steered:
        return f"PowerCappingPolicy {guard.policy} steers new eco and general work off this node for now"
    return None


def rack_room(guard: PowerGuard | None, pending_watts: float) -> float | None:
    """Watts the node's rack may still add, after ``pending_watts`` already placed there and not yet
    measured (``None``: no rack power limit)."""
    if guard is None or guard.rack_headroom_watts is None:
        return None
    return guard.rack_headroom_watts - pending_watts


def rack_rejection(guard: PowerGuard | None, pending_watts: float, pod_watts: float | None) -> str | None:
    """Why the pod does not fit under its rack's power limit (``None``: it does, or nothing is known).

    ``pod_watts`` infinite (the pod overcommits the node's CPU) is no power question: the
    scheduler's own resource fit refuses that node."""
    room = rack_room(guard, pending_watts)
    if room is None or pod_watts is None or math.isinf(pod_watts) or pod_watts <= room:
        return None
    assert guard is not None
    return (
        f"rack {guard.rack} has {max(0.0, room):.0f} W left under its power limit (PowerCappingPolicy "
        f"{guard.policy}); the pod would add about {pod_watts:.0f} W"
    )


ROOMY_FRACTION = 0.2
"""A rack with this share of its power limit left after the pod scores as a rack without a limit."""


def headroom_factor(guard: PowerGuard | None, pending_watts: float, pod_watts: float | None) -> float:
    """Multiplier on a node's score: 1 with room to spare, falling to 1/2 as its rack's room runs out.

    Prefers racks with headroom without overriding the profile bands by much: the filter
    already removed nodes whose rack cannot take the pod at all.
    """
    room = rack_room(guard, pending_watts)
    if room is None or guard is None or not guard.rack_limit_watts:
        return 1.0
    left = room - (pod_watts if pod_watts is not None and not math.isinf(pod_watts) else 0.0)
    roomy = ROOMY_FRACTION * guard.rack_limit_watts
    return 0.5 + 0.5 * max(0.0, min(1.0, left / roomy))
