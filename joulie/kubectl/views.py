"""What each ``kubectl joulie`` command prints: pure functions of the ``/plan`` JSON.

They read the JSON, not :class:`joulie.core.plan.Plan`, so a plan computed here and one read
from a running server (``--plan-url``) print the same way, and keys the server adds (power
budgets, measured power) show as soon as it sends them:

- top level ``budgets: [{name, limitWatts, measuredWatts, headroomWatts, state, racks:
  [{rackId, powerWatts, temperature, stage}]}]``;
- per node ``measuredWatts``, ``budgetShareWatts``, ``inletTempC``, and ``budget: {policy, reason,
  ...}`` (what the budget did to the node, printed after its reason); per budget ``message``.

Their columns appear only when some node carries the key. Tables follow kubectl: upper-case
headers, columns three spaces apart, ``<none>`` / ``<unknown>`` for empty cells.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import ValidationError

from labeller.templates import CpuControls

Json = Mapping[str, Any]
SortBy = Literal["power", "name", "profile"]

PROFILE_RANK: Final = {"performance": 0, "eco": 1}
RACK_STAGES: Final = ("normal", "no new eco/general work", "eco capped", "all capped")
"""A rack's thermal stage (PowerCappingPolicy ``status.racks[].stage``), by number."""
UNKNOWN: Final = "<unknown>"
NONE: Final = "<none>"


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    key: str


TELEMETRY_COLUMNS: Final = (
    Column("BUDGET-SHARE(W)", "budgetShareWatts"),
    Column("INLET(C)", "inletTempC"),
)


# ---------------------------------------------------------------- small pieces


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], no_headers: bool = False) -> str:
    """kubectl's table: every column but the last padded to its widest cell, three spaces apart."""
    shown = [list(r) for r in rows] if no_headers else [list(headers), *map(list, rows)]
    if not shown:
        return ""
    widths = [max(len(r[i]) for r in shown) for i in range(len(headers) - 1)]
    return "\n".join("   ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths)), r[-1]]).rstrip() for r in shown)


def number(value: Any, missing: str = UNKNOWN) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return missing
    return f"{round(float(value), 1):g}"


def power(watts: Any) -> str:
    if isinstance(watts, bool) or not isinstance(watts, int | float):
        return UNKNOWN
    return f"{watts / 1000:.1f} kW" if abs(watts) >= 10_000 else f"{watts:.0f} W"


def age(seconds: float) -> str:
    """``45s``, ``12m``, ``3h``, ``2d``: kubectl's way of saying how long."""
    s = max(0, round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= 2 * size:
            return f"{s // size}{unit}"
    return f"{s}s"


def timestamp(unix: Any) -> str:
    if not isinstance(unix, int | float):
        return UNKNOWN
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rack_stage(stage: Any) -> str:
    if stage is None:
        return NONE
    if isinstance(stage, int) and not isinstance(stage, bool) and 0 <= stage < len(RACK_STAGES):
        return f"{stage} ({RACK_STAGES[stage]})"
    return str(stage)


def natural(name: str) -> list[Any]:
    """Sort key putting ``node-2`` before ``node-10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def describe_controls(controls: Any) -> str:
    """``epp=balance_power uncore=0- %`` as ``joulie plan`` writes it; ``-`` for none."""
    if not controls:
        return "-"
    try:
        return CpuControls.model_validate(controls).describe()
    except ValidationError:  # a newer server's controls: show them as sent
        return " ".join(f"{k}={v}" for k, v in sorted(dict(controls).items()))


def budget_note(node: Json) -> str:
    """What a power budget did to the node (its ``budget`` object), when one governs it."""
    budget = node.get("budget")
    if not isinstance(budget, Mapping) or not budget.get("reason"):
        return ""
    return f"budget {budget.get('policy')}: {budget.get('reason')}"


def node_reason(plan: Json, node: Json) -> str:
    """The node's own reason (each one starts with the policy's, which the summary already shows),
    then what a power budget did to it."""
    reason = str(node.get("reason") or "")
    prefix = f"{plan.get('policyReason')}; "
    own = reason[len(prefix) :] if reason.startswith(prefix) else reason
    note = budget_note(node)
    return f"{own}; {note}" if note else own


def nodes_of(plan: Json) -> list[Json]:
    return [n for n in plan.get("nodes") or [] if isinstance(n, Mapping)]


def carried(nodes: Sequence[Json], key: str) -> bool:
    return any(n.get(key) is not None for n in nodes)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------- summary


def summary_lines(plan: Json, now: float) -> list[str]:
    nodes = nodes_of(plan)
    d = plan.get("demand") or {}
    lines = [
        f"Policy:   {plan.get('policy')} -> {plan.get('targetPerformance')} of "
        f"{_plural(len(nodes), 'managed node')} performance",
        f"          {plan.get('policyReason')}",
        f"Demand:   {d.get('performance', 0)} performance ({d.get('performancePending', 0)} pending), "
        f"{d.get('eco', 0)} eco, {d.get('general', 0)} general pods",
    ]
    floor = plan.get("performanceFloor")
    if isinstance(floor, Mapping):
        until = floor.get("until")
        left = f" ({age(until - now)} left)" if isinstance(until, int | float) else ""
        lines.append(
            f"Floor:    {_plural(int(floor.get('nodes') or 0), 'performance node')} until {timestamp(until)}"
            f"{left}: {floor.get('reason')}"
        )
    else:
        lines.append("Floor:    none")
    measured = [n["measuredWatts"] for n in nodes if isinstance(n.get("measuredWatts"), int | float)]
    if measured:
        lines.append(f"Power:    {power(sum(measured))} measured over {len(measured)} of {_plural(len(nodes), 'node')}")
    lines.append(f"Planned:  {timestamp(plan.get('generatedAt'))}")
    return lines


def budgets_text(plan: Json, no_headers: bool = False) -> str:
    """One line per power budget, and one per rack under it; empty when the plan carries none."""
    budgets = [b for b in plan.get("budgets") or [] if isinstance(b, Mapping)]
    if not budgets:
        return ""
    rows = []
    for b in budgets:
        rows.append(
            [
                str(b.get("name")),
                number(b.get("limitWatts")),
                number(b.get("measuredWatts")),
                number(b.get("headroomWatts")),
                str(b.get("state") or NONE) + (f": {b['message']}" if b.get("message") else ""),
            ]
        )
        for r in b.get("racks") or []:
            if isinstance(r, Mapping):
                rows.append(
                    [
                        f"  rack {r.get('rackId')}",
                        "",
                        number(r.get("powerWatts")),
                        "",
                        f"{number(r.get('temperature'))} C, stage {rack_stage(r.get('stage'))}",
                    ]
                )
    return table(["BUDGET", "LIMIT(W)", "MEASURED(W)", "HEADROOM(W)", "STATE"], rows, no_headers)


def unmanaged_lines(plan: Json) -> list[str]:
    out = [
        f"  {s.get('name')}: {s.get('reason')}"
        for s in [*(plan.get("skipped") or []), *(plan.get("unmanagedNodes") or [])]
    ]
    out += [f"  {name}: not known to Joulie" for name in plan.get("unknownNodes") or []]
    return out


# ---------------------------------------------------------------- commands


def plan_text(plan: Json, now: float, wide: bool = False, no_headers: bool = False) -> str:
    """``kubectl joulie plan``: the policy, demand and floor, then one row per managed node."""
    nodes = nodes_of(plan)
    headers = ["NAME", "PROFILE", "STATE", "CAP(W)", "PERF-PODS", "REASON"]
    extra: list[Column] = []
    if wide:
        headers = ["NAME", "PROFILE", "DRAINING", "STATE", "CAP(W)", "CONTROLS", "PERF-PODS"]
        if carried(nodes, "measuredWatts"):
            headers.append("MEASURED(W)")
        extra = [c for c in TELEMETRY_COLUMNS if carried(nodes, c.key)]
        headers += [c.header for c in extra] + ["REASON"]
    rows = []
    for n in nodes:
        cap = number(n.get("capWatts"), NONE)
        if wide:
            row = [
                str(n.get("name")),
                str(n.get("profile")),
                "true" if n.get("draining") else "false",
                str(n.get("state")),
                cap,
                describe_controls(n.get("controls")),
                str(n.get("performancePods", 0)),
            ]
            if carried(nodes, "measuredWatts"):
                row.append(number(n.get("measuredWatts")))
            row += [number(n.get(c.key)) for c in extra] + [node_reason(plan, n)]
        else:
            row = [
                str(n.get("name")),
                str(n.get("profile")),
                str(n.get("state")),
                cap,
                str(n.get("performancePods", 0)),
                node_reason(plan, n),
            ]
        rows.append(row)
    body = table(headers, rows, no_headers)
    if no_headers:
        return body
    parts = ["\n".join(summary_lines(plan, now))]
    if budgets := budgets_text(plan):
        parts.append(budgets)
    parts.append(body if rows else "No managed nodes.")
    if unmanaged := unmanaged_lines(plan):
        parts.append("Not managed now:\n" + "\n".join(unmanaged))
    return "\n\n".join(parts)


def why_text(plan: Json, now: float) -> str:
    """``kubectl joulie why NODE...``: everything Joulie decided about each node, and why."""
    blocks = []
    for n in nodes_of(plan):
        lines = [
            f"{n.get('name')}: {n.get('profile')} ({n.get('state')}{', draining' if n.get('draining') else ''})",
            f"  Because:   {node_reason(plan, n)}",
            f"  Cap:       {number(n.get('capWatts'), NONE)} W per CPU package",
            f"  Controls:  {describe_controls(n.get('controls'))}",
            f"  Perf pods: {n.get('performancePods', 0)} running",
        ]
        if n.get("measuredWatts") is not None:
            lines.append(f"  Measured:  {power(n.get('measuredWatts'))}")
        if n.get("budgetShareWatts") is not None:
            lines.append(f"  Budget:    {power(n.get('budgetShareWatts'))} share")
        if n.get("inletTempC") is not None:
            lines.append(f"  Inlet:     {number(n.get('inletTempC'))} C")
        lines.append(
            f"  Policy:    {plan.get('policy')} wants {plan.get('targetPerformance')} performance nodes: "
            f"{plan.get('policyReason')}"
        )
        floor = plan.get("performanceFloor")
        if isinstance(floor, Mapping):
            lines.append(
                f"  Floor:     {_plural(int(floor.get('nodes') or 0), 'performance node')} until "
                f"{timestamp(floor.get('until'))}: {floor.get('reason')}"
            )
        blocks.append("\n".join(lines))
    for s in [*(plan.get("skipped") or []), *(plan.get("unmanagedNodes") or [])]:
        blocks.append(f"{s.get('name')}: not managed now\n  Because:   {s.get('reason')}")
    return "\n\n".join(blocks)


def top_rows(plan: Json, sort_by: SortBy = "power") -> list[dict[str, Any]]:
    """The managed nodes with what they draw, highest first (unmeasured last), then by profile."""

    def measured(n: Json) -> float | None:
        w = n.get("measuredWatts")
        return float(w) if isinstance(w, int | float) and not isinstance(w, bool) else None

    def key(n: Json) -> tuple[Any, ...]:
        w = measured(n)
        by_power = (w is None, -(w or 0.0))
        rank = PROFILE_RANK.get(str(n.get("profile")), 9)
        name = natural(str(n.get("name")))
        if sort_by == "name":
            return (name,)
        if sort_by == "profile":
            return (rank, *by_power, name)
        return (*by_power, rank, name)

    return [
        {
            "name": n.get("name"),
            "profile": n.get("profile"),
            "state": n.get("state"),
            "draining": bool(n.get("draining")),
            "measuredWatts": measured(n),
            "capWatts": n.get("capWatts"),
            "budgetShareWatts": n.get("budgetShareWatts"),
            "inletTempC": n.get("inletTempC"),
            "performancePods": n.get("performancePods", 0),
            "reason": node_reason(plan, n),
        }
        for n in sorted(nodes_of(plan), key=key)
    ]


def top_text(plan: Json, sort_by: SortBy = "power", wide: bool = False, no_headers: bool = False) -> str:
    """``kubectl joulie top``: power budgets when there are any, then the nodes by measured power."""
    rows = top_rows(plan, sort_by)
    extra = [c for c in TELEMETRY_COLUMNS if carried(rows, c.key)]
    headers = ["NAME", "PROFILE", "STATE", "POWER(W)", "CAP(W)", *(c.header for c in extra)]
    if wide:
        headers += ["DRAINING", "PERF-PODS", "REASON"]
    lines = []
    for r in rows:
        line = [
            str(r["name"]),
            str(r["profile"]),
            str(r["state"]),
            number(r["measuredWatts"]),
            number(r["capWatts"], NONE),
            *(number(r[c.key]) for c in extra),
        ]
        if wide:
            line += ["true" if r["draining"] else "false", str(r["performancePods"]), str(r["reason"])]
        lines.append(line)
    body = table(headers, lines, no_headers)
    if no_headers:
        return body
    budgets = budgets_text(plan)
    return "\n\n".join(p for p in (budgets, body if lines else "No managed nodes.") if p)
