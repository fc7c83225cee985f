"""``joulie plan`` and ``joulie labeller``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from importlib import resources
from typing import Any

import orjson
from pydantic import ValidationError

from joulie.cliutil import ConfigError, add_kube_flags, add_logging_flags, env, env_bool, parse_params, scalar
from joulie.core.plan import DEFAULT_ECO_CPU_WATTS, ECO_CAPS, PERFORMANCE_CAPS, CapSettings
from joulie.logs import setup_logging
from joulie.validation import validation_details
from labeller.budgets.source import CachedBudgetSource
from labeller.config import PlannerConfig
from labeller.planner import Planner
from labeller.policies import POLICIES
from labeller.reconciler import Reconciler
from labeller.render import plan_table
from labeller.settings import LoopSettings
from labeller.snapshot import SnapshotError, load_snapshot
from labeller.templates import add_control_flags, control_templates

# Upstream Joulie configured its policies with these env vars; keep them working.
UPSTREAM_POLICY_ENV = {
    "STATIC_HP_FRAC": ("static_partition", "hp_frac"),
    "QUEUE_HP_BASE_FRAC": ("queue_aware_v1", "base_frac"),
    "QUEUE_HP_MIN": ("queue_aware_v1", "hp_min"),
    "QUEUE_HP_MAX": ("queue_aware_v1", "hp_max"),
    "QUEUE_PERF_PER_HP_NODE": ("queue_aware_v1", "perf_per_hp_node"),
}


def add_cap_flags(g: argparse._ActionsContainer) -> None:
    """The caps written into NodePowerProfiles; :func:`cap_settings` reads them back."""
    g.add_argument(
        "--performance-cap-watts",
        type=float,
        default=env("JOULIE_PERFORMANCE_CAP_WATTS", PERFORMANCE_CAPS.cpu_watts, float),
        help="CPU package cap of performance nodes, W per package (default %(default)s)",
    )
    g.add_argument(
        "--eco-cap-watts",
        type=float,
        default=env("JOULIE_ECO_CAP_WATTS", None, float),
        help=f"CPU package cap of eco nodes, W per package (default {DEFAULT_ECO_CPU_WATTS:g} unless "
        "--eco-cap-pct is set)",
    )
    g.add_argument(
        "--eco-cap-pct",
        type=float,
        default=env("JOULIE_ECO_CAP_PCT", None, float),
        help="eco CPU cap as %% of each package's maximum power, instead of watts",
    )
    g.add_argument(
        "--performance-gpu-cap-watts", type=float, default=env("JOULIE_PERFORMANCE_GPU_CAP_WATTS", None, float)
    )
    g.add_argument("--eco-gpu-cap-watts", type=float, default=env("JOULIE_ECO_GPU_CAP_WATTS", None, float))
    g.add_argument(
        "--eco-gpu-cap-pct",
        type=float,
        default=env("JOULIE_ECO_GPU_CAP_PCT", ECO_CAPS.gpu_pct_of_max, float),
        help="eco GPU power limit as %% of the board maximum (default %(default)s; "
        "--eco-gpu-cap-watts wins when given)",
    )


def cap_settings(args: argparse.Namespace) -> tuple[CapSettings, CapSettings]:
    """(performance, eco) caps from the :func:`add_cap_flags` flags; eco CPU has its default watts unless set."""
    eco_cpu_set = args.eco_cap_watts is not None or args.eco_cap_pct is not None
    return (
        CapSettings(cpu_watts=args.performance_cap_watts, gpu_watts=args.performance_gpu_cap_watts),
        CapSettings(
            cpu_watts=args.eco_cap_watts if eco_cpu_set else DEFAULT_ECO_CPU_WATTS,
            cpu_pct_of_max=args.eco_cap_pct,
            gpu_watts=args.eco_gpu_cap_watts,
            gpu_pct_of_max=args.eco_gpu_cap_pct,
        ),
    )


def add_planner_flags(p: argparse.ArgumentParser) -> None:
    d = PlannerConfig()
    g = p.add_argument_group("planning")
    g.add_argument(
        "--node-selector",
        default=env("JOULIE_NODE_SELECTOR", d.node_selector),
        help="label selector of managed nodes (env JOULIE_NODE_SELECTOR; default %(default)s)",
    )
    g.add_argument(
        "--policy",
        default=env("JOULIE_POLICY", d.policy),
        choices=sorted(POLICIES),
        help="policy (env JOULIE_POLICY; default %(default)s)",
    )
    g.add_argument(
        "--policy-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="policy parameter, repeatable (env JOULIE_POLICY_PARAMS='k=v,k=v'); "
        "upstream env vars such as STATIC_HP_FRAC are honoured too",
    )
    add_cap_flags(g)
    add_control_flags(p.add_argument_group("CPU controls beyond the cap, per profile"))
    g.add_argument(
        "--draining-caps",
        choices=["performance", "eco"],
        default=env("JOULIE_DRAINING_CAPS", d.draining_caps),
        help="caps of a draining node: performance (default) keeps running performance pods at full "
        "speed until they finish; eco caps at once like upstream",
    )
    g.add_argument(
        "--dwell-seconds",
        type=float,
        default=env("JOULIE_DWELL_SECONDS", d.dwell_seconds, float),
        help="minimum time a node stays performance before going eco (0 = upstream behaviour)",
    )
    g.add_argument(
        "--feedback-hold-seconds",
        type=float,
        default=env("JOULIE_FEEDBACK_HOLD_SECONDS", d.feedback_hold_seconds, float),
        help="how long a node promoted for unplaceable performance pods stays performance for them "
        "(0 = no feedback promotions, as upstream)",
    )
    g.add_argument(
        "--performance-wait-target-seconds",
        type=float,
        default=env("JOULIE_PERFORMANCE_WAIT_TARGET_SECONDS", d.performance_wait_target_seconds, float),
        help="how long a performance pod may wait for room: performance nodes keep room for waiting pods and "
        "bursts, and pods that wait longer get nodes promoted (env JOULIE_PERFORMANCE_WAIT_TARGET_SECONDS; "
        "0 = the policy alone, as upstream; default %(default)s)",
    )
    g.add_argument(
        "--feedback-pods-per-node",
        type=int,
        default=env("JOULIE_FEEDBACK_PODS_PER_NODE", d.feedback_pods_per_node, int),
        help="unplaceable performance pods per extra performance node",
    )


def planner_config(args: argparse.Namespace) -> PlannerConfig:
    params: dict[str, Any] = {}
    for env_name, (policy, key) in UPSTREAM_POLICY_ENV.items():
        if policy == args.policy and os.environ.get(env_name):
            params[key] = scalar(os.environ[env_name])
    env_params = os.environ.get("JOULIE_POLICY_PARAMS", "")
    params.update(parse_params([p for p in env_params.split(",") if p.strip()], "JOULIE_POLICY_PARAMS"))
    params.update(parse_params(args.policy_param))
    try:
        performance_caps, eco_caps = cap_settings(args)
        config = PlannerConfig(
            node_selector=args.node_selector,
            policy=args.policy,
            policy_params=params,
            performance_caps=performance_caps,
            eco_caps=eco_caps,
            cpu_controls=control_templates(args),
            draining_caps=args.draining_caps,
            dwell_seconds=args.dwell_seconds,
            feedback_hold_seconds=args.feedback_hold_seconds,
            feedback_pods_per_node=args.feedback_pods_per_node,
            performance_wait_target_seconds=args.performance_wait_target_seconds,
        )
        config.build_policy()
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {validation_details(exc)}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return config


EXAMPLE_SNAPSHOT = "cluster-snapshot.yaml"


def example_snapshot_path() -> str:
    return str(resources.files("joulie") / "examples" / EXAMPLE_SNAPSHOT)


class _NoWrites:
    """Writer for planning only: any write attempt is a bug."""

    def _refuse(self, *_a: object, **_k: object) -> None:
        raise AssertionError("joulie plan must not write")

    patch_node_labels = apply_profile = delete_profile = emit_event = _refuse
    patch_policy_status = emit_policy_event = _refuse


def cmd_plan(args: argparse.Namespace) -> int:
    config = planner_config(args)
    if args.example:
        args.snapshot = example_snapshot_path()
    if args.snapshot:
        snap = load_snapshot(args.snapshot)
        store, profiles, policies = snap.store, snap.profiles, snap.policies
    else:
        from labeller.kube.run import load_cluster_state

        state = load_cluster_state(args.kubeconfig, args.context)
        store, profiles, policies = state.store, state.profiles, state.policies
    reconciler = Reconciler(
        store, profiles, Planner(config), _NoWrites(), dry_run=True, budgets=CachedBudgetSource(policies)
    )
    plan = reconciler.compute_plan(args.now if args.now is not None else time.time())
    if args.json:
        sys.stdout.write(orjson.dumps(plan.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(plan_table(plan))
    return 0


def loop_settings(args: argparse.Namespace) -> LoopSettings:
    """The reconcile-loop flags of :func:`add_labeller_run_flags`, validated."""
    try:
        return LoopSettings(
            interval_seconds=args.interval,
            debounce_seconds=args.debounce,
            dry_run=args.dry_run,
            leader_elect=args.leader_elect,
            lease_name=args.lease_name,
            lease_namespace=args.lease_namespace,
            lease_duration_seconds=args.lease_duration,
            identity=args.identity,
            once=args.once,
            metrics_port=args.metrics_port,
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid reconcile-loop settings: {validation_details(exc)}") from None


def cmd_labeller(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    from labeller.kube.run import run_labeller

    return run_labeller(loop_settings(args), planner_config(args), args.kubeconfig, args.context)


def add_labeller_run_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the reconcile loop, shared by ``joulie labeller`` and ``joulie serve``."""
    g = p.add_argument_group("reconcile loop")
    d = LoopSettings()
    g.add_argument(
        "--interval",
        type=float,
        default=env("JOULIE_INTERVAL_SECONDS", d.interval_seconds, float),
        help="seconds between periodic reconciles (default %(default)s)",
    )
    g.add_argument(
        "--debounce",
        type=float,
        default=env("JOULIE_DEBOUNCE_SECONDS", d.debounce_seconds, float),
        help="seconds to merge event-triggered reconciles (default %(default)s)",
    )
    g.add_argument(
        "--dry-run", action="store_true", default=env_bool("JOULIE_DRY_RUN"), help="plan and log, write nothing"
    )
    g.add_argument(
        "--leader-elect",
        action="store_true",
        default=env_bool("JOULIE_LEADER_ELECT"),
        help="take a coordination.k8s.io Lease so only one replica writes",
    )
    g.add_argument("--lease-name", default=env("JOULIE_LEASE_NAME", d.lease_name))
    g.add_argument("--lease-namespace", default=env("JOULIE_LEASE_NAMESPACE", env("POD_NAMESPACE", d.lease_namespace)))
    g.add_argument(
        "--lease-duration", type=float, default=env("JOULIE_LEASE_DURATION_SECONDS", d.lease_duration_seconds, float)
    )
    g.add_argument("--identity", default=env("POD_NAME", None), help="leader-election identity (default: hostname)")
    g.add_argument("--once", action="store_true", help="one reconcile, then exit")
    g.add_argument(
        "--metrics-port",
        type=int,
        default=env("JOULIE_METRICS_PORT", d.metrics_port, int),
        help="port of /healthz, /readyz and /metrics (env JOULIE_METRICS_PORT; 0 = off; default %(default)s)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="compute the plan without writing (cluster or --snapshot FILE)",
        description="Compute what the labeller would do, and why, without writing anything.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--snapshot",
        metavar="FILE",
        help="`kubectl get nodes,pods -A -o yaml` (or -o json) output instead of a live cluster",
    )
    src.add_argument("--example", action="store_true", help="use the bundled example snapshot")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--now", type=float, default=None, help="plan as of this unix time (default: now)")
    add_planner_flags(p)
    add_kube_flags(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser(
        "labeller",
        help="run the reconcile loop against a cluster",
        description="Keep every managed node's labels and NodePowerProfile at the plan.",
    )
    add_planner_flags(p)
    add_labeller_run_flags(p)
    add_kube_flags(p)
    add_logging_flags(p)
    p.set_defaults(func=cmd_labeller)


__all__ = [
    "ConfigError",
    "SnapshotError",
    "add_cap_flags",
    "add_labeller_run_flags",
    "add_planner_flags",
    "cap_settings",
    "loop_settings",
    "planner_config",
    "register",
]
