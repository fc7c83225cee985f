"""``kubectl-joulie``: flags, sources and exit codes of ``kubectl joulie plan|why|top``.

kubectl hands a plugin every argument after its name, so the flags kubectl users type by
habit are the plugin's own: ``--kubeconfig``, ``--context``, ``-o json|yaml|wide``,
``--no-headers``, before or after the command. Errors are one ``error: ...`` line on stderr
and exit status 1, as kubectl's are; a usage error is status 2 (argparse's).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson
import yaml

from joulie import __version__
from joulie.cliutil import env
from joulie.errors import ConfigError
from joulie.kubectl import views
from joulie.kubectl.source import (
    PlanAnswer,
    PlanUnavailable,
    plan_from_cluster,
    plan_from_snapshot,
    plan_from_url,
)
from labeller.cli import add_planner_flags, example_snapshot_path, planner_config

PROG = "kubectl joulie"
OUTPUTS = ("json", "yaml", "wide")


def _add_common(p: argparse.ArgumentParser, suppress: bool) -> None:
    """The flags every command takes, before or after its name (``suppress``: the command's copy,
    which must not overwrite what was given before the name)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    g = p.add_argument_group("where the plan comes from (default: the cluster of the current context)")
    g.add_argument(
        "--kubeconfig",
        default=default(env("KUBECONFIG", None)),
        help="kubeconfig file (default: $KUBECONFIG, in-cluster config, then ~/.kube/config)",
    )
    g.add_argument("--context", default=default(None), help="kubeconfig context")
    g.add_argument(
        "--snapshot",
        metavar="FILE",
        default=default(None),
        help="plan `kubectl get nodes,pods,nodepowerprofiles -o yaml` output instead of the cluster",
    )
    g.add_argument("--example", action="store_true", default=default(False), help="plan the bundled example snapshot")
    g.add_argument(
        "--plan-url",
        metavar="URL",
        default=default(env("JOULIE_PLAN_URL", None)),
        help="read /plan from a running joulie serve instead of planning here, e.g. http://127.0.0.1:8082 "
        "after `kubectl -n joulie port-forward deploy/joulie 8082` (env JOULIE_PLAN_URL); shows what "
        "only the server knows: its flags, budgets, measured power",
    )
    o = p.add_argument_group("output")
    o.add_argument("-o", "--output", choices=OUTPUTS, default=default(None), help="json, yaml or wide")
    o.add_argument(
        "--no-headers", action="store_true", default=default(False), help="table rows only (no summary, no headers)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Joulie's plan from the terminal: which nodes are performance or eco, why, and what they draw.",
        epilog="Planning flags (--policy, --node-selector, caps, ...) are those of `joulie plan`; see "
        f"`{PROG} plan --help`.",
    )
    parser.add_argument("--version", action="version", version=f"kubectl-joulie {__version__}")
    _add_common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "plan",
        help="the policy, demand, performance floor and one line per managed node",
        description="The plan as `GET /plan` shows it: policy and why, demand per class, the performance "
        "floor, and every managed node's profile, guard state, caps and reason.",
    )
    p.set_defaults(run=run_plan)

    p = sub.add_parser(
        "why",
        help="why a node has its profile, or why Joulie does not manage it",
        description="Everything Joulie decided about the nodes named, and why; -o json is `/plan?node=NODE`.",
    )
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p.set_defaults(run=run_why)

    p = sub.add_parser(
        "top",
        help="managed nodes by measured power and profile",
        description="Managed nodes by measured power (highest first; nodes not measured last), with their "
        "profile, cap and, when the plan carries them, power budgets, budget shares and inlet temperatures.",
    )
    p.add_argument(
        "--sort-by", choices=["power", "name", "profile"], default="power", help="row order (default %(default)s)"
    )
    p.set_defaults(run=run_top)

    for command in sub.choices.values():
        _add_common(command, suppress=True)
        add_planner_flags(command)
    return parser


# ---------------------------------------------------------------- reading the plan


def read_plan(args: argparse.Namespace, nodes: list[str]) -> PlanAnswer:
    sources = [s for s in ("snapshot", "example", "plan_url") if getattr(args, s)]
    if len(sources) > 1:
        flags = " and ".join("--" + s.replace("_", "-") for s in sources)
        raise ConfigError(f"{flags} name different plans: give one")
    if args.plan_url:
        return plan_from_url(args.plan_url, nodes)
    config = planner_config(args)
    if args.snapshot or args.example:
        return plan_from_snapshot(args.snapshot or example_snapshot_path(), config, nodes)
    return plan_from_cluster(args.kubeconfig, args.context, config, nodes)


def _checked(answer: PlanAnswer) -> dict[str, Any]:
    if answer.status != 200:
        raise PlanUnavailable(str(answer.body.get("error") or f"{answer.origin} answered {answer.status}"))
    return answer.body


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.output == "json":
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.output == "yaml":
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    elif text:
        print(text)


# ---------------------------------------------------------------- commands


def run_plan(args: argparse.Namespace) -> int:
    plan = _checked(read_plan(args, []))
    emit(args, plan, views.plan_text(plan, time.time(), wide=args.output == "wide", no_headers=args.no_headers))
    return 0


def run_why(args: argparse.Namespace) -> int:
    names = list(dict.fromkeys(args.nodes))
    answer = read_plan(args, names)
    if answer.status == 404:
        raise PlanUnavailable(", ".join(f'node "{n}" not found' for n in names) + f" (not a node of {answer.origin})")
    plan = _checked(answer)
    emit(args, plan, views.why_text(plan, time.time()))
    unknown = plan.get("unknownNodes") or []
    for name in unknown:
        print(f'error: node "{name}" not found (not a node of {answer.origin})', file=sys.stderr)
    return 1 if unknown else 0


def run_top(args: argparse.Namespace) -> int:
    plan = _checked(read_plan(args, []))
    rows = views.top_rows(plan, args.sort_by)
    data: dict[str, Any] = {"nodes": rows}
    if "budgets" in plan:
        data["budgets"] = plan["budgets"]
    emit(args, data, views.top_text(plan, args.sort_by, wide=args.output == "wide", no_headers=args.no_headers))
    if rows and all(r["measuredWatts"] is None for r in rows) and args.output not in ("json", "yaml"):
        print(
            "note: the plan carries no measured power yet (no node reports it); POWER shows <unknown>",
            file=sys.stderr,
        )
    return 0


def setup_logging() -> None:
    """Warnings as ``warning: ...`` lines (a cluster without the CRDs, say)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)


def run(argv: Sequence[str]) -> int:
    """One command, as ``kubectl joulie ARGV...`` runs it (process-wide logging is :func:`main`'s)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # retry chatter: the error line says what failed
    try:
        return int(args.run(args))
    except (ConfigError, ValueError, OSError) as exc:
        # KubeConfigError (no cluster, API unreachable), PlanUnavailable, SnapshotError, bad flags.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main() -> int:
    """The ``kubectl-joulie`` executable."""
    setup_logging()
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
