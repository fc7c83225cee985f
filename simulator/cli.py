"""``joulie simulate``: compare unmanaged, static, queue-aware and Joulie on one trace.

A thin adapter: flags (each also read from a ``JOULIE_SIM_*`` env var) become a
:class:`simulator.scenario.Scenario`; results become a table, JSON, CSV and plots.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from joulie.cliutil import ConfigError, env, env_bool, parse_params
from labeller.cli import add_cap_flags, cap_settings
from labeller.templates import add_control_flags, control_templates
from simulator.workload import GeneratorConfig, Job, TraceError, read_trace, write_jsonl


def register(sub: Any) -> None:
    from simulator.scenario import Scenario  # its defaults are the flags' defaults

    d, w = Scenario(), GeneratorConfig()
    p = sub.add_parser(
        "simulate",
        help="digital twin: energy and service levels of A/B/C/J on a simulated cluster",
        description="Simulate a cluster running Joulie's real labeller, policies and extender on a seeded "
        "trace, and compare: A = unmanaged, B = static_partition, C = queue_aware_v1, "
        "J = Joulie scheduler-centric (extender + feedback).",
    )
    g = p.add_argument_group("cluster and workload")
    g.add_argument(
        "--nodes", type=int, default=env("JOULIE_SIM_NODES", d.nodes, int), help="nodes (default %(default)s)"
    )
    g.add_argument(
        "--gpu-fraction",
        type=float,
        default=env("JOULIE_SIM_GPU_FRACTION", d.gpu_fraction, float),
        help="share of nodes that are 8x A100 GPU servers (default %(default)s = CPU-only)",
    )
    g.add_argument(
        "--hours",
        type=float,
        default=env("JOULIE_SIM_HOURS", w.hours, float),
        help="simulated hours of arrivals; runs continue until all work is done (default %(default)s)",
    )
    g.add_argument("--seed", type=int, default=env("JOULIE_SIM_SEED", d.seed, int), help="trace and tie-break seed")
    g.add_argument(
        "--load",
        type=float,
        default=env("JOULIE_SIM_LOAD", w.load, float),
        help="mean offered CPU load as a share of cluster cores (default %(default)s)",
    )
    g.add_argument(
        "--gpu-load",
        type=float,
        default=env("JOULIE_SIM_GPU_LOAD", w.gpu_load, float),
        help="mean offered GPU load as a share of cluster GPUs (default %(default)s)",
    )
    g.add_argument(
        "--mix",
        default=env("JOULIE_SIM_MIX", f"performance={w.performance:g},eco={w.eco:g}"),
        metavar="CLASS=SHARE,...",
        help="job classes: performance and eco shares, the rest general (default %(default)s)",
    )
    g.add_argument(
        "--trace",
        type=Path,
        default=env("JOULIE_SIM_TRACE", None, Path),
        help="read jobs from this trace instead of generating them: JSONL (as --export-trace writes) or a "
        "CSV of real jobs (columns arrival, duration or end, cpu, gpus, class, id; see docs/simulator.md)",
    )
    g.add_argument(
        "--snapshot",
        type=Path,
        default=env("JOULIE_SIM_SNAPSHOT", None, Path),
        metavar="FILE",
        help="simulate your cluster: nodes and pods from `kubectl get nodes,pods -A -o yaml` output "
        "(--nodes and --gpu-fraction are then ignored)",
    )
    g.add_argument(
        "--snapshot-pod-seconds",
        type=float,
        default=env("JOULIE_SIM_SNAPSHOT_POD_SECONDS", None, float),
        help="work left in each pod of the snapshot, seconds at full speed (default: the trace's length)",
    )
    g.add_argument(
        "--node-selector",
        default=env("JOULIE_NODE_SELECTOR", d.node_selector),
        help="managed nodes of a --snapshot cluster (default %(default)s)",
    )
    g.add_argument(
        "--export-trace",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the trace used to FILE (JSONL) as well (always written into the output dir)",
    )

    g = p.add_argument_group("Joulie configuration")
    g.add_argument(
        "--runs", default=env("JOULIE_SIM_RUNS", ",".join(d.runs)), help="runs to compare (default %(default)s)"
    )
    g.add_argument(
        "--static-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="static_partition parameter for run B, e.g. hp_frac=0.5",
    )
    g.add_argument(
        "--queue-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="queue_aware_v1 parameter for run C, e.g. base_frac=0.6",
    )
    g.add_argument(
        "--joulie-policy",
        default=env("JOULIE_SIM_JOULIE_POLICY", d.joulie_policy),
        help="policy of run J (default %(default)s)",
    )
    g.add_argument(
        "--joulie-param",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="policy parameter of run J (default " + " ".join(f"{k}={v}" for k, v in d.joulie_params.items()) + ")",
    )
    g.add_argument(
        "--dwell-seconds",
        type=float,
        default=env("JOULIE_SIM_DWELL_SECONDS", d.joulie_dwell_seconds, float),
        help="minimum performance dwell in run J (default %(default)s)",
    )
    g.add_argument(
        "--feedback-hold-seconds",
        type=float,
        default=env("JOULIE_FEEDBACK_HOLD_SECONDS", d.feedback_hold_seconds, float),
    )
    g.add_argument(
        "--performance-wait-target-seconds",
        type=float,
        default=env("JOULIE_PERFORMANCE_WAIT_TARGET_SECONDS", d.performance_wait_target_seconds, float),
        help="run J's performance wait target (0 = its policy alone; default %(default)s)",
    )
    g.add_argument(
        "--extender-weight",
        type=int,
        default=env("JOULIE_SIM_EXTENDER_WEIGHT", d.extender_weight, int),
        help="extender weight in the scheduler config of run J (default %(default)s)",
    )
    g.add_argument(
        "--power-aware-scoring",
        action="store_true",
        default=env_bool("JOULIE_SIM_POWER_AWARE_SCORING"),
        help="add run P: J with power-aware scoring (parametric predictor), to compare energy with J",
    )
    g.add_argument(
        "--interval",
        type=float,
        default=env("JOULIE_INTERVAL_SECONDS", d.interval_seconds, float),
        help="labeller reconcile interval, seconds (default %(default)s)",
    )
    g.add_argument(
        "--step",
        type=float,
        default=env("JOULIE_SIM_STEP_SECONDS", d.step_seconds, float),
        help="simulation step, seconds: scheduling granularity (default %(default)s)",
    )

    g = p.add_argument_group("power budget (a PowerCappingPolicy run J enforces; every run is measured against it)")
    g.add_argument(
        "--power-budget-watts",
        type=float,
        default=env("JOULIE_SIM_POWER_BUDGET_WATTS", None, float),
        help="cluster power cap in watts (the policy's powerCapLimit); results report time and energy over it",
    )
    g.add_argument(
        "--rack-size",
        type=int,
        default=env("JOULIE_SIM_RACK_SIZE", d.rack_size, int),
        help="nodes per rack, in name order (label topology.joulie.io/rack); 0: no racks (default %(default)s)",
    )
    g.add_argument(
        "--rack-max-watts",
        type=float,
        default=env("JOULIE_SIM_RACK_MAX_WATTS", None, float),
        help="power limit of every rack in watts (the policy's rackConstraints[].maxPower); needs --rack-size",
    )

    add_cap_flags(p.add_argument_group("caps (what the agent sets)"))
    g = p.add_argument_group("CPU controls beyond the cap (what the agent sets), and the unmanaged baseline")
    g.add_argument(
        "--baseline",
        choices=["os-defaults", "max-performance"],
        default=env("JOULIE_SIM_BASELINE", d.baseline.value),
        help="how nodes are set when unmanaged: OS defaults (C-states and uncore scaling on) or a "
        "maximum-performance profile (deep C-states off, uncore pinned high, EPP performance); "
        "default %(default)s",
    )
    add_control_flags(g)

    g = p.add_argument_group("output")
    g.add_argument(
        "--output-dir",
        type=Path,
        default=env("JOULIE_SIM_OUTPUT_DIR", Path("simulate-out"), Path),
        help="directory for results, CSV, trace and plots (default ./%(default)s)",
    )
    g.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    g.add_argument("--no-plots", action="store_true", default=env_bool("JOULIE_SIM_NO_PLOTS"))
    g.add_argument("--no-progress", action="store_true", default=env_bool("JOULIE_SIM_NO_PROGRESS"))
    p.set_defaults(func=cmd_simulate)


def _mix(text: str) -> dict[str, float]:
    shares = parse_params([t for t in text.split(",") if t.strip()], "--mix")
    unknown = set(shares) - {"performance", "eco", "general"}
    if unknown:
        raise ConfigError(f"--mix: unknown class(es) {sorted(unknown)}; use performance=X,eco=Y")
    try:
        out = {k: float(v) for k, v in shares.items() if k != "general"}
    except (TypeError, ValueError):
        raise ConfigError(f"--mix: shares must be numbers, got {text!r}") from None
    return out


def build_scenario(args: argparse.Namespace) -> Any:
    from simulator.scenario import Scenario

    try:
        workload = GeneratorConfig(hours=args.hours, load=args.load, gpu_load=args.gpu_load, **_mix(args.mix))
    except ValidationError as exc:
        raise ConfigError(f"invalid simulation settings: {_settings_error(exc, '--mix')}") from None
    try:
        joulie_params = (
            parse_params(args.joulie_param, "--joulie-param")
            if args.joulie_param is not None
            else Scenario().joulie_params
        )
        performance_caps, eco_caps = cap_settings(args)
        scenario = Scenario(
            baseline=args.baseline,
            cpu_controls=control_templates(args),
            nodes=args.nodes,
            gpu_fraction=args.gpu_fraction,
            seed=args.seed,
            workload=workload,
            performance_caps=performance_caps,
            eco_caps=eco_caps,
            static_params=parse_params(args.static_param, "--static-param"),
            queue_params=parse_params(args.queue_param, "--queue-param"),
            joulie_policy=args.joulie_policy,
            joulie_params=joulie_params,
            joulie_dwell_seconds=args.dwell_seconds,
            feedback_hold_seconds=args.feedback_hold_seconds,
            extender_weight=args.extender_weight,
            interval_seconds=args.interval,
            step_seconds=args.step,
            runs=tuple(r.strip().upper() for r in args.runs.split(",") if r.strip()),
            power_aware_scoring=args.power_aware_scoring,
            performance_wait_target_seconds=args.performance_wait_target_seconds,
            node_selector=args.node_selector,
            power_budget_watts=args.power_budget_watts,
            rack_size=args.rack_size,
            rack_max_watts=args.rack_max_watts,
        )
        scenario.specs()  # the runs' planner settings and policy parameters, validated now
        return scenario
    except ValidationError as exc:
        raise ConfigError(f"invalid simulation settings: {_settings_error(exc, 'settings')}") from None
    except ValueError as exc:  # PolicyConfigError, SelectorError
        raise ConfigError(str(exc)) from None


FLAGS = {
    "nodes": "--nodes",
    "gpu_fraction": "--gpu-fraction",
    "seed": "--seed",
    "hours": "--hours",
    "load": "--load",
    "gpu_load": "--gpu-load",
    "performance": "--mix performance",
    "eco": "--mix eco",
    "joulie_dwell_seconds": "--dwell-seconds",
    "feedback_hold_seconds": "--feedback-hold-seconds",
    "performance_wait_target_seconds": "--performance-wait-target-seconds",
    "extender_weight": "--extender-weight",
    "interval_seconds": "--interval",
    "step_seconds": "--step",
    "runs": "--runs",
    "node_selector": "--node-selector",
    "policy": "--joulie-policy",
    "power_budget_watts": "--power-budget-watts",
    "rack_size": "--rack-size",
    "rack_max_watts": "--rack-max-watts",
}
"""Settings fields by the flag that sets them, so an error names what the user typed."""


def _settings_error(exc: ValidationError, root: str) -> str:
    """``--flag: message; ...``; ``root`` names the flags behind an error about the whole value."""
    parts = []
    for e in exc.errors():
        loc = ".".join(map(str, e["loc"]))
        parts.append(f"{FLAGS.get(loc, loc) if loc else root}: {str(e['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


class _Progress:
    """One tqdm bar per run over the trace's simulated hours; the drain past the trace end is shown
    beside the full bar (the runs continue until every job is done), so the bar never passes its total."""

    def __init__(self, enabled: bool, horizon: float) -> None:
        self.enabled = enabled
        self.total = horizon / 3600.0
        self.bar: Any = None
        self.key = ""

    def __call__(self, key: str, t: float) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if key != self.key:
            self.close()
            self.key = key
            self.bar = tqdm(
                total=self.total,
                desc=f"run {key}",
                unit="sim-h",
                file=sys.stderr,
                leave=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} sim-h [{elapsed}]{postfix}",
            )
        hours = t / 3600.0
        if hours < self.total:
            self.bar.update(hours - self.bar.n)
            return
        if self.bar.n < self.total:
            self.bar.n = self.total
            self.bar.refresh()
        note = f"draining +{hours - self.total:.1f} sim-h"
        if note != self.bar.postfix:
            self.bar.set_postfix_str(note)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _jobs_and_fleet(args: argparse.Namespace, scenario: Any) -> tuple[list[Job], list[Job], Any, str]:
    """(trace, snapshot pods, fleet or ``None`` for the scenario's, description of the cluster)."""
    from joulie.core.selector import LabelSelector
    from labeller.snapshot import SnapshotError
    from simulator.cluster import ClusterError, snapshot_cluster
    from simulator.workload import generate

    trace: list[Job] | None = None
    if args.trace is not None:
        try:
            trace = read_trace(args.trace)
        except TraceError as exc:
            raise ConfigError(str(exc)) from None
    if args.snapshot is None:
        nodes = f"{scenario.nodes} nodes" + (
            f" ({scenario.gpu_fraction:.0%} GPU servers)" if scenario.gpu_fraction else " (CPU-only)"
        )
        return trace if trace is not None else scenario.trace(), [], None, nodes
    horizon = max(scenario.workload.hours * 3600.0, max((j.arrival for j in trace or ()), default=0.0))
    pod_seconds = args.snapshot_pod_seconds if args.snapshot_pod_seconds is not None else horizon
    if pod_seconds <= 0:
        raise ConfigError("--snapshot-pod-seconds must be more than 0")
    try:
        cluster = snapshot_cluster(args.snapshot, LabelSelector.parse(scenario.node_selector), pod_seconds)
    except (SnapshotError, ClusterError) as exc:
        raise ConfigError(str(exc)) from None
    if cluster.managed == 0 and any(r != "A" for r in scenario.runs):
        raise ConfigError(
            f"{args.snapshot}: none of its {len(cluster.fleet)} nodes match the managed-node selector "
            f"{scenario.node_selector!r}; pass --node-selector (or --runs A)"
        )
    if trace is None:
        trace = generate(scenario.workload, cluster.cores, cluster.gpus, scenario.seed)
    if {j.id for j in trace} & {j.id for j in cluster.jobs}:
        raise ConfigError(f"{args.trace}: job ids clash with the snapshot's pods (namespace/name)")
    described = (
        f"{len(cluster.fleet)} nodes from {args.snapshot} ({cluster.managed} managed, {cluster.gpus} GPUs, "
        f"{len(cluster.jobs)} pods to start with" + "".join(f"; {n}" for n in cluster.notes) + ")"
    )
    return trace, cluster.jobs, cluster.fleet, described


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulator import report
    from simulator.scenario import run_scenario

    scenario = build_scenario(args)
    trace, starting, fleet, cluster_desc = _jobs_and_fleet(args, scenario)
    jobs = starting + trace
    outdir: Path = args.output_dir
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {outdir}: {exc.strerror or exc}") from None
    write_jsonl(trace, outdir / "trace.jsonl")
    if args.export_trace is not None:
        try:
            write_jsonl(trace, args.export_trace)
        except OSError as exc:
            raise ConfigError(f"cannot write {args.export_trace}: {exc.strerror or exc}") from None
    horizon = max(scenario.workload.hours * 3600.0, max((j.arrival for j in jobs), default=0.0))
    progress = _Progress(not args.no_progress and not args.json, horizon)
    started = time.perf_counter()
    try:
        results = run_scenario(scenario, jobs, progress, fleet)
    finally:
        progress.close()
    elapsed = time.perf_counter() - started
    rows = report.summarize(results)
    meta = {
        "scenario": scenario.model_dump(mode="json"),
        "jobs": len(jobs),
        "trace": str(args.trace) if args.trace else "generated",
        "snapshot": str(args.snapshot) if args.snapshot else None,
        "cluster": cluster_desc,
        "wall_seconds": round(elapsed, 2),
    }
    report.write_json(rows, meta, outdir / "results.json")
    report.write_csv(rows, outdir / "results.csv")
    report.write_jobs_csv(results, outdir / "jobs.csv")
    plots: list[Path] = []
    plot_note = ""
    if not args.no_plots:
        try:
            plots = report.write_plots(results, rows, outdir)
        except ImportError:
            plot_note = "plots skipped: matplotlib is not installed"
    if args.json:
        print(json.dumps({**report.json_payload(rows, meta), "outputDir": str(outdir)}, indent=2))
        return 0
    print(
        f"{len(jobs)} jobs over {horizon / 3600.0:g} h on {cluster_desc}, seed {scenario.seed}; "
        f"simulated in {elapsed:.1f} s"
    )
    print(f"baseline: {scenario.baseline.value}: {scenario.baseline.description}\n")
    print(report.table(rows))
    if plot_note:
        print(f"\n{plot_note}")
    print(
        f"\nresults written to {outdir}/ (results.json, results.csv, jobs.csv, trace.jsonl"
        + "".join(f", {p.name}" for p in plots)
        + ")"
    )
    return 0
