"""Human-readable rendering of a plan (``joulie plan`` without ``--json``)."""

from __future__ import annotations

from joulie.core.plan import Plan
from labeller.templates import decision_controls


def plan_table(plan: Plan) -> str:
    d = plan.demand
    lines = [
        f"policy: {plan.policy} -> {plan.target_performance} of {len(plan.nodes)} managed nodes performance",
        f"  {plan.policy_reason}",
        f"demand: {d.performance} performance ({d.performance_pending} pending), {d.eco} eco, {d.general} general pods",
        "",
    ]
    header = ("NODE", "PROFILE", "DRAINING", "STATE", "CAP(W)", "CONTROLS", "PERF-PODS", "REASON")
    rows = [
        (
            n.name,
            n.profile,
            "true" if n.draining else "false",
            n.state.value,
            "-" if n.cap_watts is None else f"{n.cap_watts:g}",
            decision_controls(n).describe(),
            str(n.performance_pods),
            n.reason.rsplit("; ", 1)[-1] if "; " in n.reason else n.reason,
        )
        for n in plan.nodes
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1])
    if plan.skipped:
        lines.append("")
        lines.append("not managed now:")
        for name, verdict in sorted(plan.skipped.items()):
            lines.append(f"  {name}: {verdict.reason}")
    return "\n".join(lines)
