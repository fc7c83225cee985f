"""``joulie plan`` and ``joulie labeller``."""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources

import orjson

from joulie.cliutil import ConfigError, add_kube_flags, add_logging_flags, add_planner_flags, env, env_bool, planner_config
from joulie.logs import setup_logging
from labeller.planner import Planner
from labeller.reconciler import Reconciler
from labeller.render import plan_table
from labeller.snapshot import SnapshotError, load_snapshot

EXAMPLE_SNAPSHOT = "cluster-snapshot.yaml"


def example_snapshot_path() -> str:
    return str(resources.files("joulie") / "examples" / EXAMPLE_SNAPSHOT)


class _NoWrites:
    """Writer for planning only: any write attempt is a bug."""

    def _refuse(self, *_a: object, **_k: object) -> None:
        raise AssertionError("joulie plan must not write")

    patch_node_labels = apply_profile = delete_profile = emit_event = _refuse


def cmd_plan(args: argparse.Namespace) -> int:
    config = planner_config(args)
    if args.example:
        args.snapshot = example_snapshot_path()
    if args.snapshot:
        snap = load_snapshot(args.snapshot)
        store, profiles = snap.store, snap.profiles
    else:
        from labeller.kube.client import load_cluster_state

        store, profiles = load_cluster_state(args.kubeconfig, args.context)
    reconciler = Reconciler(store, profiles, Planner(config), _NoWrites(), dry_run=True)
    plan = reconciler.compute_plan(args.now if args.now is not None else time.time())
    if args.json:
        sys.stdout.write(orjson.dumps(plan.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(plan_table(plan))
    return 0


def cmd_labeller(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    from labeller.kube.run import run_labeller

    return run_labeller(args, planner_config(args))


def add_labeller_run_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the reconcile loop, shared by ``joulie labeller`` and ``joulie serve``."""
    g = p.add_argument_group("reconcile loop")
    g.add_argument("--interval", type=float, default=env("JOULIE_INTERVAL_SECONDS", 30.0, float),
                   help="seconds between periodic reconciles (default %(default)s)")
    g.add_argument("--debounce", type=float, default=env("JOULIE_DEBOUNCE_SECONDS", 0.2, float),
                   help="seconds to merge event-triggered reconciles (default %(default)s)")
    g.add_argument("--dry-run", action="store_true", default=env_bool("JOULIE_DRY_RUN"),
                   help="plan and log, write nothing")
    g.add_argument("--leader-elect", action="store_true", default=env_bool("JOULIE_LEADER_ELECT"),
                   help="take a coordination.k8s.io Lease so only one replica writes")
    g.add_argument("--lease-name", default=env("JOULIE_LEASE_NAME", "joulie-labeller"))
    g.add_argument("--lease-namespace", default=env("JOULIE_LEASE_NAMESPACE", env("POD_NAMESPACE", "joulie-system")))
    g.add_argument("--lease-duration", type=float, default=env("JOULIE_LEASE_DURATION_SECONDS", 15.0, float))
    g.add_argument("--identity", default=env("POD_NAME", None), help="leader-election identity (default: hostname)")
    g.add_argument("--once", action="store_true", help="one reconcile, then exit")
    g.add_argument("--metrics-port", type=int, default=env("JOULIE_METRICS_PORT", 9090, int),
                   help="port of /healthz, /readyz and /metrics (env JOULIE_METRICS_PORT; 0 = off; "
                        "default %(default)s)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="compute the plan without writing (cluster or --snapshot FILE)",
                       description="Compute what the labeller would do, and why, without writing anything.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--snapshot", metavar="FILE",
                     help="`kubectl get nodes,pods -A -o yaml` (or -o json) output instead of a live cluster")
    src.add_argument("--example", action="store_true", help="use the bundled example snapshot")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--now", type=float, default=None, help="plan as of this unix time (default: now)")
    add_planner_flags(p)
    add_kube_flags(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("labeller", help="run the reconcile loop against a cluster",
                       description="Keep every managed node's labels and NodePowerProfile at the plan.")
    add_planner_flags(p)
    add_labeller_run_flags(p)
    add_kube_flags(p)
    add_logging_flags(p)
    p.set_defaults(func=cmd_labeller)


__all__ = ["register", "ConfigError", "SnapshotError"]
