"""Enforce the PowerCappingPolicies on a plan. Pure: every input arrives as an argument.

Every reconcile, after the planner decided profiles and caps, :func:`enforce` turns each
policy's budget into lower caps for the nodes it governs:

1. **Scope.** A policy governs the planned nodes its ``nodeSelector`` matches (default: every
   managed node). Two policies selecting the same node is an error on both: neither moves the
   caps of its nodes (they keep the caps they have, never raised) until one is fixed.
2. **Algorithm.** ``customAlgorithm`` picks a registered split (:mod:`labeller.budgets`); an
   unknown name or bad parameters keeps the last safe caps and says so.
3. **Nodes.** Each governed node's agent reports its power (``status.power``): what the caps
   govern and the least they can make the node draw. A reading older than
   ``telemetry.staleAfterSeconds``, or none, makes the node *stale*: its caps are kept as
   they are, never raised, and the policy says ``TelemetryFresh=False``.
4. **Performance per watt.** With ``performancePowerRatio`` the share of the budget above the
   floors that is handed out moves by steps to keep the measured ratio in its band
   (:func:`joulie.core.budget.ratio_scale`), remembered in the policy's status.
5. **Split**, then **racks**: a rack whose nodes' shares pass its ``maxPower`` is split again
   within it; above ``maxTemperature`` the rack's stage escalates (no new eco/general work,
   then eco nodes at their minimum caps, then all), clearing only below the limit minus
   ``temperatureMargin`` (:func:`joulie.core.budget.next_stage`). Stages live in the status.
6. **Caps**: a node's caps only ever come down from what the planner gave it.

The outcome carries the new plan (caps, a budget note per node, a summary per policy, guards
for the extender), the status to write per policy, and the events of its transitions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from joulie import jsonutil
from joulie.api.v1alpha1 import (
    Condition,
    PowerCappingPolicySpec,
    PowerCappingPolicyStatus,
    PowerReading,
    RackStatus,
    SteeredNode,
    set_condition,
)
from joulie.core.budget import (
    CapRange,
    NodePower,
    NodeShare,
    Priority,
    ThermalStage,
    caps_for,
    next_stage,
    next_trim,
    potential,
    ratio_scale,
    setpoint,
    tighter,
)
from joulie.core.model import NodeInfo
from joulie.core.plan import BudgetNote, BudgetSummary, CapSettings, NodeDecision, Plan, PowerGuard
from joulie.core.selector import LabelSelector, SelectorError
from joulie.validation import validation_details
from labeller.budgets import AlgorithmError, BudgetAlgorithm, build_algorithm

DEFAULT_STALE_AFTER = 120.0


@dataclass(frozen=True, slots=True)
class PolicyView:
    """A PowerCappingPolicy as observed: its spec (or why it is invalid) and its last status."""

    name: str
    generation: int | None
    spec: PowerCappingPolicySpec | None
    status: PowerCappingPolicyStatus | None
    invalid: str | None = None

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> PolicyView:
        meta = jsonutil.obj(obj.get("metadata"))
        name = jsonutil.text(meta.get("name"), "?")
        generation = meta.get("generation") if isinstance(meta.get("generation"), int) else None
        status = None
        try:
            status = PowerCappingPolicyStatus.model_validate(jsonutil.obj(obj.get("status")))
        except ValidationError:
            status = None  # a status we cannot read is rebuilt from scratch
        try:
            spec = PowerCappingPolicySpec.model_validate(jsonutil.obj(obj.get("spec")))
        except ValidationError as exc:
            return cls(name, generation, None, status, f"invalid spec: {validation_details(exc, 'spec')}")
        return cls(name, generation, spec, status)


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the controller reads about one node besides its plan decision."""

    power: PowerReading | None
    cpu_cap_watts: float | None
    """The package cap its NodePowerProfile asks for now (the last safe cap)."""
    gpu_cap_watts: float | None


@dataclass(frozen=True, slots=True)
class PerformanceFigure:
    """The latest fresh performance figure of a policy's ``performanceSource``, or why there is none."""

    value: float | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetInputs:
    policies: Sequence[PolicyView]
    nodes: Mapping[str, NodeInfo]
    facts: Mapping[str, NodeFacts]
    managed: LabelSelector
    inlet_temperature: Callable[[str, float], float | None] = lambda _node, _now: None
    """Fresh inlet temperature of a node (degrees Celsius), ``None`` when unknown or stale."""
    performance: Mapping[str, PerformanceFigure] = field(default_factory=dict)
    """Performance figure per policy with a ``performanceSource``."""


@dataclass(frozen=True, slots=True)
class PolicyEvent:
    policy: str
    reason: str
    message: str
    type: str = "Normal"


@dataclass(frozen=True, slots=True)
class BudgetOutcome:
    plan: Plan
    statuses: Mapping[str, PowerCappingPolicyStatus]
    events: tuple[PolicyEvent, ...]


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC).replace(microsecond=0)


def _selector(view: PolicyView, managed: LabelSelector) -> LabelSelector:
    assert view.spec is not None
    return LabelSelector.parse(view.spec.node_selector) if view.spec.node_selector else managed


def _ceiling(profile_watts: float | None, pct: float | None, hw_max: float | None) -> float | None:
    """The cap a node runs at without a budget, in watts per device."""
    if profile_watts is not None:
        return min(profile_watts, hw_max) if hw_max else profile_watts
    if pct is not None and hw_max:
        return hw_max * pct / 100
    return hw_max


def node_power(
    decision: NodeDecision, facts: NodeFacts | None, rack: str | None, spec: PowerCappingPolicySpec, now: float
) -> NodePower:
    """The budget's view of one node, from its decision (the ceiling) and its agent's reading."""
    telemetry = spec.telemetry
    stale_after = telemetry.stale_after_seconds if telemetry else DEFAULT_STALE_AFTER
    overhead = telemetry.node_overhead_watts if telemetry else 0.0
    reading = facts.power if facts else None
    priority = Priority.PERFORMANCE if decision.profile == "performance" or decision.draining else Priority.OTHER
    if reading is None:
        return NodePower(
            decision.name,
            priority,
            overhead,
            0,
            CapRange(0, 0),
            0.0,
            rack=rack,
            fresh=False,
            current_package_cap=facts.cpu_cap_watts if facts else None,
            current_gpu_cap=facts.gpu_cap_watts if facts else None,
        )
    caps = decision.caps
    pkg_ceiling = _ceiling(caps.cpu_watts, caps.cpu_pct_of_max, reading.package_cap_max_watts) or 0.0
    pkg_min = max(reading.package_cap_min_watts or 0.0, reading.package_floor_watts or 0.0)
    gpu_ceiling = _ceiling(caps.gpu_watts, caps.gpu_pct_of_max, reading.gpu_cap_max_watts) or 0.0
    fresh = now - reading.measured_at.timestamp() <= stale_after and reading.package_watts is not None
    if reading.node_watts is not None:
        # the node's own wall power: what the caps do not govern is the rest, measured, not assumed
        overhead = max(0.0, reading.node_watts - (reading.package_watts or 0.0) - (reading.gpu_watts or 0.0))
    return NodePower(
        decision.name,
        priority,
        overhead,
        reading.packages,
        CapRange(min(pkg_min, pkg_ceiling), pkg_ceiling),
        reading.package_watts or 0.0,
        gpus=reading.gpus,
        gpu_caps=CapRange(min(reading.gpu_cap_min_watts or 0.0, gpu_ceiling), gpu_ceiling),
        gpu_watts=reading.gpu_watts or 0.0,
        rack=rack,
        fresh=fresh,
        current_package_cap=facts.cpu_cap_watts if facts else None,
        current_gpu_cap=facts.gpu_cap_watts if facts else None,
    )


def _lower(caps: CapSettings, share: NodeShare, node: NodePower) -> CapSettings:
    """``caps`` with the budget's caps where they are lower (watts replace a percentage)."""
    cpu, pct = caps.cpu_watts, caps.cpu_pct_of_max
    gpu, gpu_pct = caps.gpu_watts, caps.gpu_pct_of_max
    lowered = False
    if share.package_cap_watts is not None and node.packages and share.package_cap_watts < node.package_caps.ceiling:
        cpu, pct, lowered = max(1.0, share.package_cap_watts), None, True
    if share.gpu_cap_watts is not None and node.gpus and share.gpu_cap_watts < node.gpu_caps.ceiling:
        gpu, gpu_pct, lowered = max(1.0, share.gpu_cap_watts), None, True
    if not lowered:
        return caps  # most nodes, most of the time: nothing to build
    # values checked above (whole watts >= 1, percentages from validated caps): no re-validation
    return CapSettings.model_construct(cpu_watts=cpu, cpu_pct_of_max=pct, gpu_watts=gpu, gpu_pct_of_max=gpu_pct)


def _held(decision: NodeDecision, facts: NodeFacts | None) -> CapSettings:
    """The last safe caps: what the node's profile asks for now where that is lower than the plan's."""
    caps = decision.caps
    if facts is None:
        return caps
    cpu, pct = caps.cpu_watts, caps.cpu_pct_of_max
    if facts.cpu_cap_watts is not None and (cpu is None or facts.cpu_cap_watts < cpu):
        cpu, pct = facts.cpu_cap_watts, None
    gpu, gpu_pct = caps.gpu_watts, caps.gpu_pct_of_max
    if facts.gpu_cap_watts is not None and (gpu is None or facts.gpu_cap_watts < gpu):
        gpu, gpu_pct = facts.gpu_cap_watts, None
    return CapSettings(cpu_watts=cpu, cpu_pct_of_max=pct, gpu_watts=gpu, gpu_pct_of_max=gpu_pct)


@dataclass
class _Result:
    """What one policy did, collected while enforcing it."""

    caps: dict[str, CapSettings] = field(default_factory=dict)
    notes: dict[str, BudgetNote] = field(default_factory=dict)
    guards: dict[str, PowerGuard] = field(default_factory=dict)


def enforce(plan: Plan, inputs: BudgetInputs, now: float) -> BudgetOutcome:
    """The plan with every policy's budget applied (see the module docstring)."""
    decisions = plan.by_name()
    valid: dict[str, tuple[PolicyView, set[str]]] = {}
    statuses: dict[str, PowerCappingPolicyStatus] = {}
    events: list[PolicyEvent] = []
    summaries: list[BudgetSummary] = []
    results: dict[str, _Result] = {}
    for view in sorted(inputs.policies, key=lambda v: v.name):
        if view.spec is None:
            statuses[view.name] = _invalid_status(view, "InvalidSpec", view.invalid or "invalid spec", now)
            continue
        try:
            selector = _selector(view, inputs.managed)
        except SelectorError as exc:
            statuses[view.name] = _invalid_status(view, "InvalidSelector", str(exc), now)
            continue
        governed = {n for n in decisions if n in inputs.nodes and selector.matches(inputs.nodes[n].labels)}
        valid[view.name] = (view, governed)
    owners: dict[str, list[str]] = {}
    for name, (_, governed) in valid.items():
        for node in governed:
            owners.setdefault(node, []).append(name)
    shared = {node: names for node, names in owners.items() if len(names) > 1}
    for name, (view, governed) in valid.items():
        result = _Result()
        results[name] = result
        clashes = sorted({other for node in governed if node in shared for other in shared[node] if other != name})
        if clashes:
            nodes = sorted(n for n in governed if n in shared)
            message = (
                f"selects nodes another policy selects too ({', '.join(clashes)}): "
                f"{', '.join(nodes[:5])}{' ...' if len(nodes) > 5 else ''}; caps are held until one is fixed"
            )
            statuses[name] = _hold(view, governed, decisions, inputs, result, "OverlappingPolicies", message, now)
            continue
        try:
            assert view.spec is not None
            algorithm = build_algorithm(
                view.spec.custom_algorithm.name if view.spec.custom_algorithm else None,
                view.spec.custom_algorithm.parameters if view.spec.custom_algorithm else None,
            )
        except AlgorithmError as exc:
            statuses[name] = _hold(view, governed, decisions, inputs, result, "InvalidAlgorithm", str(exc), now)
            continue
        status, policy_events = _enforce_one(view, governed, decisions, inputs, algorithm, result, now)
        statuses[name] = status
        events.extend(policy_events)
    for name, status in statuses.items():
        view = next(v for v in inputs.policies if v.name == name)
        summaries.append(_summary(view, status))
        previous = view.status.state if view.status else None
        if status.state != previous:
            events.append(
                PolicyEvent(
                    name,
                    status.state or "Unknown",
                    _state_message(status),
                    "Normal" if status.state == "WithinBudget" else "Warning",
                )
            )
    new_nodes = []
    guards: dict[str, PowerGuard] = {}
    for decision in plan.nodes:
        out = decision
        for result in results.values():  # a node is governed by one policy at most
            name = decision.name
            note = result.notes.get(name)
            if note is not None:
                out = replace(
                    out,
                    caps=result.caps.get(name, out.caps),
                    budget=note,
                    reason=f"{out.reason}; budget {note.policy}: {note.reason}",
                )
            elif name in result.caps:
                out = replace(out, caps=result.caps[name])
            if name in result.guards:
                guards[name] = result.guards[name]
        new_nodes.append(out)
    new_plan = replace(plan, nodes=tuple(new_nodes), budgets=tuple(summaries), guards=guards)
    return BudgetOutcome(new_plan, statuses, tuple(events))


def _enforce_one(
    view: PolicyView,
    governed: set[str],
    decisions: Mapping[str, NodeDecision],
    inputs: BudgetInputs,
    algorithm: BudgetAlgorithm[Any],
    result: _Result,
    now: float,
) -> tuple[PowerCappingPolicyStatus, list[PolicyEvent]]:
    spec = view.spec
    assert spec is not None
    previous = view.status
    events: list[PolicyEvent] = []
    nodes = [
        node_power(decisions[n], inputs.facts.get(n), inputs.nodes[n].labels.get(spec.rack_label), spec, now)
        for n in sorted(governed)
    ]
    stale = [n.name for n in nodes if not n.fresh]
    measured = sum(n.measured if n.fresh else n.held() for n in nodes)
    target = setpoint(spec.power_cap_limit, spec.margin_percent)
    prev_trim = previous.trim_watts if previous and previous.trim_watts is not None else 0.0
    # the error is the split's own only under caps already in force: readings taken after the last
    # split (the agent applies its profile before it measures) while that split capped some node
    readings = [f.power.measured_at for n in nodes if n.fresh and (f := inputs.facts.get(n.name)) and f.power]
    binding = bool(
        previous
        and previous.capped_nodes
        and previous.last_updated is not None
        and readings
        and min(readings) >= previous.last_updated + timedelta(seconds=1)  # lastUpdated has whole seconds
    )
    trim = next_trim(prev_trim, measured, target, spec.power_cap_limit / 2, binding)
    budget = target - trim

    scale = previous.ratio_scale if previous and previous.ratio_scale is not None else 1.0
    ratio = None
    if spec.performance_power_ratio is not None:
        figure = inputs.performance.get(view.name, PerformanceFigure(None, "no performanceSource configured"))
        ratio = figure.value / measured if figure.value is not None and measured > 0 else None
        ppr = spec.performance_power_ratio
        scale = ratio_scale(scale, ratio, ppr.target_ratio, ppr.tolerance_percentage / 100)
        floor = sum(n.floor if n.fresh else n.held() for n in nodes)
        budget = floor + scale * max(0.0, target - trim - floor)

    split = algorithm.split(nodes, budget)
    shares = dict(split.shares)

    # racks: power limits, then temperature
    rack_nodes: dict[str, list[NodePower]] = {}
    for n in nodes:
        if n.rack is not None:
            rack_nodes.setdefault(n.rack, []).append(n)
    prev_stage = {r.rack_id: ThermalStage(r.stage) for r in (previous.racks or [])} if previous else {}
    prev_rack_trim = {r.rack_id: r.trim_watts or 0.0 for r in (previous.racks or [])} if previous else {}
    rack_trim: dict[str, float | None] = {}
    rack_status: list[RackStatus] = []
    rack_stage: dict[str, ThermalStage] = {}
    rack_headroom: dict[str, float | None] = {}
    rack_limit: dict[str, float | None] = {}
    for constraint in spec.rack_constraints or []:
        members = rack_nodes.get(constraint.rack_id, [])
        power = sum(n.measured if n.fresh else n.held() for n in members)
        if constraint.max_power is not None and members:
            aim = setpoint(constraint.max_power, spec.margin_percent)
            cut = next_trim(prev_rack_trim.get(constraint.rack_id, 0.0), power, aim, constraint.max_power / 2, binding)
            rack_trim[constraint.rack_id] = cut
            if sum(potential(n, shares[n.name]) for n in members) > aim - cut:
                # the caps handed out would let the rack pass its limit: split the rack's limit too
                inner = algorithm.split(members, aim - cut)
                for n in members:
                    shares[n.name] = tighter(shares[n.name], inner.shares[n.name])
            rack_headroom[constraint.rack_id] = aim - power
            rack_limit[constraint.rack_id] = constraint.max_power
        temps = [t for n in members if (t := inputs.inlet_temperature(n.name, now)) is not None]
        temperature = max(temps) if temps else None
        stage = prev_stage.get(constraint.rack_id, ThermalStage.NORMAL)
        if constraint.max_temperature is not None:
            new = next_stage(stage, temperature, constraint.max_temperature, constraint.temperature_margin)
            if new is not stage:
                events.append(
                    PolicyEvent(
                        view.name,
                        f"RackThermal{new.name.title().replace('_', '')}",
                        f"rack {constraint.rack_id} at {temperature:.1f} degC (limit {constraint.max_temperature:g}): "
                        f"stage {stage.value} -> {new.value}"
                        if temperature is not None
                        else f"rack {constraint.rack_id}: stage {stage.value} -> {new.value}",
                        "Warning" if new.value > stage.value else "Normal",
                    )
                )
            stage = new
        for n in members:
            if n.fresh and (
                stage is ThermalStage.ALL_CAPPED
                or (stage is ThermalStage.ECO_CAPPED and n.priority is not Priority.PERFORMANCE)
            ):
                shares[n.name] = replace(
                    caps_for(n, n.floor),
                    reason=f"rack {constraint.rack_id} too hot (stage {stage.value}): minimum caps",
                )
        rack_stage[constraint.rack_id] = stage
        rack_status.append(
            RackStatus(
                rack_id=constraint.rack_id,
                power_watts=round(power, 1),
                temperature=temperature,
                stage=stage.value,
                trim_watts=round(t, 1) if (t := rack_trim.get(constraint.rack_id)) else None,
            )
        )

    # steering (energy-aware): new marks, and old ones still within their interval
    steered_until = {s.name: s.until.timestamp() for s in (previous.steered_nodes or [])} if previous else {}
    for name in algorithm.steered(nodes):
        steered_until.setdefault(name, now + algorithm.steer_seconds)
    steered = {n: t for n, t in steered_until.items() if t > now and n in governed}

    for n in nodes:
        share = shares[n.name]
        decision = decisions[n.name]
        if n.fresh:
            result.caps[n.name] = _lower(decision.caps, share, n)
        else:
            result.caps[n.name] = _held(decision, inputs.facts.get(n.name))
        result.notes[n.name] = BudgetNote(
            view.name, share.share_watts, n.measured if n.fresh else None, share.capped, share.reason
        )
        result.guards[n.name] = PowerGuard(
            view.name,
            n.rack,
            rack_stage.get(n.rack, ThermalStage.NORMAL).value if n.rack else 0,
            rack_headroom.get(n.rack) if n.rack else None,
            n.name in steered,
            rack_limit.get(n.rack) if n.rack else None,
        )

    if split.insufficient:
        state = "BudgetInsufficient"
    elif measured > spec.power_cap_limit + 1e-6:
        state = "OverBudget"
    else:
        state = "WithinBudget"
    conditions = list(previous.conditions or []) if previous else []
    when = _utc(now)
    gen = view.generation
    conditions = set_condition(conditions, "Valid", True, "Valid", "spec and algorithm accepted", gen, when)
    conditions = set_condition(
        conditions,
        "WithinBudget",
        state == "WithinBudget",
        state,
        f"{measured:.0f} W measured of {spec.power_cap_limit:g} W",
        gen,
        when,
    )
    conditions = set_condition(
        conditions,
        "BudgetInsufficient",
        split.insufficient,
        "Shortfall" if split.insufficient else "Sufficient",
        f"performance demand (or the nodes' floors) exceed the budget by {split.shortfall_watts:.0f} W; "
        "performance nodes are capped too"
        if split.insufficient
        else "performance demand fits the budget",
        gen,
        when,
    )
    conditions = set_condition(
        conditions,
        "TelemetryFresh",
        not stale,
        "Fresh" if not stale else "TelemetryStale",
        "every governed node reports its power"
        if not stale
        else f"{len(stale)} node(s) report no recent power ({', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''}): "
        "their caps are kept, never raised",
        gen,
        when,
    )
    if spec.performance_power_ratio is not None:
        conditions = set_condition(
            conditions,
            "PerformanceFresh",
            ratio is not None,
            "Fresh" if ratio is not None else "PerformanceUnknown",
            f"{ratio:.4g} per watt"
            if ratio is not None
            else f"{figure.problem or 'no figure'}: the budget share is held",
            gen,
            when,
        )
    status = PowerCappingPolicyStatus(
        observed_generation=gen,
        measured_power_watts=round(measured, 1),
        budget_watts=round(budget, 1),
        headroom_watts=round(spec.power_cap_limit - measured, 1),
        shortfall_watts=round(split.shortfall_watts, 1) if split.insufficient else None,
        state=state,
        nodes=len(nodes),
        ratio=None if ratio is None or not math.isfinite(ratio) else round(ratio, 4),
        ratio_scale=round(scale, 4) if spec.performance_power_ratio is not None else None,
        trim_watts=round(trim, 1) if trim > 0 else None,
        capped_nodes=sum(1 for n in nodes if shares[n.name].capped),
        racks=rack_status or None,
        steered_nodes=[SteeredNode(name=n, until=_utc(t)) for n, t in sorted(steered.items())] or None,
        last_updated=when,
        conditions=conditions,
    )
    if split.insufficient and not (previous and previous.state == "BudgetInsufficient"):
        events.append(
            PolicyEvent(
                view.name,
                "BudgetInsufficient",
                f"short by {split.shortfall_watts:.0f} W: performance nodes capped too",
                "Warning",
            )
        )
    return status, events


def _hold(
    view: PolicyView,
    governed: set[str],
    decisions: Mapping[str, NodeDecision],
    inputs: BudgetInputs,
    result: _Result,
    reason: str,
    message: str,
    now: float,
) -> PowerCappingPolicyStatus:
    """A policy that cannot plan: its nodes keep their last safe caps, and it says why."""
    for n in governed:
        result.caps[n] = _held(decisions[n], inputs.facts.get(n))
        result.notes[n] = BudgetNote(view.name, 0.0, None, False, f"caps held: {message}")
    status = _invalid_status(view, reason, message, now)
    return status.model_copy(update={"nodes": len(governed)})


def _invalid_status(view: PolicyView, reason: str, message: str, now: float) -> PowerCappingPolicyStatus:
    previous = view.status
    conditions: list[Condition] = list(previous.conditions or []) if previous else []
    conditions = set_condition(conditions, "Valid", False, reason, message, view.generation, _utc(now))
    return PowerCappingPolicyStatus(
        observed_generation=view.generation,
        state=reason,
        measured_power_watts=previous.measured_power_watts if previous else None,
        racks=previous.racks if previous else None,
        last_updated=_utc(now),
        conditions=conditions,
    )


def _summary(view: PolicyView, status: PowerCappingPolicyStatus) -> BudgetSummary:
    limit = view.spec.power_cap_limit if view.spec else 0.0
    racks = tuple(r.to_api() for r in status.racks or [])
    valid = next((c for c in status.conditions or [] if c.type == "Valid"), None)
    message = valid.message if valid is not None and valid.status == "False" else ""
    return BudgetSummary(
        view.name,
        limit,
        status.measured_power_watts,
        status.headroom_watts,
        status.state or "",
        racks,
        status.nodes or 0,
        message,
    )


def _state_message(status: PowerCappingPolicyStatus) -> str:
    if status.state == "BudgetInsufficient":
        return f"budget short by {status.shortfall_watts or 0:.0f} W: performance nodes capped too"
    if status.state in ("WithinBudget", "OverBudget"):
        return f"{status.measured_power_watts or 0:.0f} W measured, {status.headroom_watts or 0:.0f} W headroom"
    valid = next((c for c in status.conditions or [] if c.type == "Valid"), None)
    return valid.message if valid is not None else str(status.state)
