"""Results of a comparison: per-run summary, the table, JSON, CSV and PNG plots.

What users feel is turnaround: arrival to finish, pending included. Per class
(``perf_``, ``eco_``, ``general_``, ``all_``) each run reports pending (arrival to start)
and turnaround mean / p95 / p99 in seconds, and turnaround against the same job in run A
(``*_turnaround_vs_a_*_pct``: per job, ``turnaround / A's turnaround - 1``, then its mean /
p95 / p99). Slowdown (run time over run time at full speed, as percent extra) is kept
apart, so a queue does not hide in it nor the other way round.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from simulator.engine import RunResult
from simulator.hardware import joules_to_kwh

COLUMNS: list[tuple[str, str, str]] = [
    # key, header, format: the headline first (energy, then what performance users feel)
    ("run", "run", "{}"),
    ("energy_kwh", "energy kWh", "{:.1f}"),
    ("energy_change_pct", "energy vs A", "{:+.1f}%"),
    ("perf_pending_p95_s", "perf pend p95", "{:.0f}s"),
    ("perf_turnaround_vs_a_p95_pct", "perf turn p95 vs A", "{:+.1f}%"),
    ("all_turnaround_vs_a_p95_pct", "all turn p95 vs A", "{:+.1f}%"),
    ("perf_turnaround_p95_s", "perf turn p95", "{:.0f}s"),
    ("perf_slowdown_p95_pct", "perf slow p95", "{:.2f}%"),
    ("all_slowdown_mean_pct", "all slow mean", "{:.1f}%"),
    ("all_pending_p95_s", "all pend p95", "{:.0f}s"),
    ("completed", "completed", "{}"),
    ("end_hours", "drained at", "{:.2f}h"),
]

CLASSES: tuple[tuple[str, str | None], ...] = (
    ("perf", "performance"),
    ("eco", "eco"),
    ("general", "general"),
    ("all", None),
)
"""Key prefix of each class in the results (``None``: every job)."""


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default); NaN for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _stats(prefix: str, values: Sequence[float], unit: str) -> dict[str, float]:
    return {
        f"{prefix}_mean_{unit}": _mean(values),
        f"{prefix}_p95_{unit}": percentile(values, 95),
        f"{prefix}_p99_{unit}": percentile(values, 99),
    }


def _service(r: RunResult, baseline: dict[str, float]) -> dict[str, float]:
    """Pending (arrival to start) and turnaround (arrival to end) per class, and turnaround against
    the same job in the baseline run, mean / p95 / p99."""
    out: dict[str, float] = {}
    for prefix, demand in CLASSES:
        jobs = [j for j in r.jobs if demand is None or j.demand == demand]
        done = [j for j in jobs if j.end >= 0]
        out |= _stats(f"{prefix}_pending", [j.pending for j in jobs if j.start >= 0], "s")
        out |= _stats(f"{prefix}_turnaround", [j.end - j.arrival for j in done], "s")
        relative = [100.0 * ((j.end - j.arrival) / baseline[j.id] - 1.0) for j in done if baseline.get(j.id, 0.0) > 0.0]
        out |= _stats(f"{prefix}_turnaround_vs_a", relative, "pct")
    return out


def summarize(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per run; changes are against run ``A`` when present, else the first run."""
    if not results:
        return []
    baseline = next((r for r in results if r.spec.key == "A"), results[0])
    base_kwh = joules_to_kwh(baseline.energy_j)
    base_turnaround = {j.id: j.end - j.arrival for j in baseline.jobs if j.end >= 0}
    rows = []
    for r in results:
        done = [j for j in r.jobs if j.end >= 0]
        perf = [j for j in done if j.demand == "performance"]
        slow_all = [100.0 * (j.slowdown - 1.0) for j in done]
        slow_perf = [100.0 * (j.slowdown - 1.0) for j in perf]
        started = [j for j in r.jobs if j.start >= 0]
        pend = [j.pending for j in started]
        kwh = joules_to_kwh(r.energy_j)
        service = _service(r, base_turnaround)
        rows.append(
            {
                "run": r.spec.key,
                "title": r.spec.title,
                "energy_kwh": kwh,
                "energy_change_pct": 100.0 * (kwh / base_kwh - 1.0) if base_kwh else math.nan,
                "perf_slowdown_mean_pct": _mean(slow_perf),
                "perf_slowdown_p95_pct": percentile(slow_perf, 95),
                "all_slowdown_mean_pct": _mean(slow_all),
                "all_slowdown_p95_pct": percentile(slow_all, 95),
                "pending_mean_s": _mean(pend),
                "pending_p95_s": percentile(pend, 95),
                **service,
                "throughput_jobs_per_h": len(done) / (r.end_time / 3600.0) if r.end_time > 0 else math.nan,
                "completed": len(done),
                "unfinished": r.unfinished,
                "end_hours": r.end_time / 3600.0,
                "mean_power_kw": r.energy_j / r.end_time / 1000.0 if r.end_time > 0 else math.nan,
                "peak_power_kw": r.peak_watts / 1000.0,
                "reconciles": r.reconciles,
                "feedback_reconciles": r.feedback_reconciles,
                "profile_changes": r.profile_changes,
                "wall_seconds": r.wall_seconds,
                **r.budget,
            }
        )
    return rows


def _fmt(fmt: str, value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(value, float) and abs(value) < 5e-3:
        value = 0.0  # no "-0.0%" from rounding noise
    return fmt.format(value)


BUDGET_COLUMNS: list[tuple[str, str, str]] = [
    ("over_budget_seconds", "over budget", "{:.0f}s"),
    ("over_budget_longest_seconds", "longest over", "{:.0f}s"),
    ("over_budget_kwh", "over kWh", "{:.2f}"),
    ("rack_over_budget_seconds", "racks over", "{:.0f}s"),
    ("rack_over_budget_longest_seconds", "rack longest", "{:.0f}s"),
]
"""Shown after the headline when the scenario has a power budget or rack limits."""


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table, one line per run, plus a legend of the run titles."""
    columns = COLUMNS[:6] + [c for c in BUDGET_COLUMNS if rows and c[0] in rows[0]] + COLUMNS[6:]
    cells = [[h for _, h, _ in columns]] + [[_fmt(f, row[k]) for k, _, f in columns] for row in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines += [
        f"{row['run']}: {row['title']}" + (f"  ({row['unfinished']} jobs unfinished)" if row["unfinished"] else "")
        for row in rows
    ]
    return "\n".join(lines)


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def json_payload(rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """``{meta, runs}`` with NaN as null: what results.json holds and ``--json`` prints."""
    return {"meta": meta, "runs": [{k: _clean(v) for k, v in row.items()} for row in rows]}


def write_json(rows: Sequence[dict[str, Any]], meta: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(json_payload(rows, meta), indent=2) + "\n", encoding="utf-8")
    return path


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["run"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if _clean(v) is None else v) for k, v in row.items()})
    return path


def write_jobs_csv(results: Iterable[RunResult], path: Path) -> Path:
    """Every job of every run: for analyses the summary does not cover."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "job", "demand", "gpus", "arrival", "start", "end", "work_seconds", "node", "start_profile"])
        for r in results:
            for j in r.jobs:
                w.writerow(
                    [
                        r.spec.key,
                        j.id,
                        j.demand,
                        j.gpus,
                        f"{j.arrival:.3f}",
                        f"{j.start:.3f}",
                        f"{j.end:.3f}",
                        j.work_seconds,
                        j.node,
                        j.start_profile,
                    ]
                )
    return path


def write_plots(results: Sequence[RunResult], rows: Sequence[dict[str, Any]], outdir: Path) -> list[Path]:
    """Cluster power over time per run, energy versus performance turnaround (one point per run), and
    performance pods pending over time per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for r in results:
        xs = [t / 3600.0 for t, _ in r.power_series]
        ys = [w / 1000.0 for _, w in r.power_series]
        ax.step(xs, ys, where="pre", label=f"{r.spec.key}: {r.spec.title}", linewidth=1.2)
    if results:
        ax.axvline(results[0].horizon / 3600.0, color="grey", linestyle=":", linewidth=1)
        ax.text(results[0].horizon / 3600.0, ax.get_ylim()[1], " trace end", va="top", fontsize=8, color="grey")
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("cluster power (kW)")
    ax.set_title("Cluster power per run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    paths.append(outdir / "power.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for row in rows:
        x = row["perf_turnaround_p95_s"]
        y = row["energy_kwh"]
        if isinstance(x, float) and math.isnan(x):
            continue
        ax.scatter([x / 60.0], [y], s=60)
        vs_a = row["perf_turnaround_vs_a_p95_pct"]
        ax.annotate(
            f"{row['run']} (energy {row['energy_change_pct']:+.1f}%"
            + ("" if isinstance(vs_a, float) and math.isnan(vs_a) else f", per-job p95 vs A {vs_a:+.1f}%")
            + ")",
            (x / 60.0, y),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=9,
        )
    ax.set_xlabel("performance jobs: p95 turnaround, arrival to finish (min)")
    ax.set_ylabel("energy (kWh)")
    ax.set_title("Energy versus performance turnaround")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(outdir / "energy_vs_slowdown.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for r in results:
        xs = [q.seconds / 3600.0 for q in r.queue_series]
        ys = [q.performance for q in r.queue_series]
        if xs:
            xs.append(r.end_time / 3600.0)
            ys.append(ys[-1])
        ax.step(xs, ys, where="post", label=f"{r.spec.key}: {r.spec.title}", linewidth=1.0)
    ax.set_xlabel("simulated time (h)")
    ax.set_ylim(bottom=0, top=max([1, *(q.performance for r in results for q in r.queue_series)]) * 1.05)
    ax.set_ylabel("performance pods waiting to start")
    ax.set_title("Performance pods pending per run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    paths.append(outdir / "performance_pending.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
