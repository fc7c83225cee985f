"""``joulie serve``: flags and registration (discovered by :mod:`joulie.cli`)."""

from __future__ import annotations

import argparse

from extender.app import DEFAULT_MAX_BODY_BYTES
from joulie.cliutil import add_kube_flags, add_logging_flags, add_planner_flags, env, env_bool


def cmd_serve(args: argparse.Namespace) -> int:
    from extender.server import cmd_serve as run  # uvicorn is imported only when serving

    return run(args)


def register(sub: argparse._SubParsersAction) -> None:
    from labeller.cli import add_labeller_run_flags

    p = sub.add_parser(
        "serve",
        help="serve the kube-scheduler extender and /plan, with the labeller loop beside it",
        description="Serve POST /filter and /prioritize (kube-scheduler extender), GET /plan, /healthz, "
                    "/readyz and /metrics, while the labeller keeps the plan current. With --snapshot or "
                    "--example no cluster is needed.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--snapshot", metavar="FILE", default=env("JOULIE_SNAPSHOT", None),
                     help="serve from `kubectl get nodes,pods -A -o yaml` output instead of a live cluster "
                          "(env JOULIE_SNAPSHOT)")
    src.add_argument("--example", action="store_true", help="serve from the bundled example snapshot")
    g = p.add_argument_group("http")
    g.add_argument("--host", default=env("JOULIE_HOST", "0.0.0.0"), help="listen address (default %(default)s)")
    g.add_argument("--port", type=int, default=env("JOULIE_PORT", 8080, int), help="listen port (default %(default)s)")
    g.add_argument("--url-prefix", default=env("JOULIE_URL_PREFIX", "/scheduler"),
                   help="routes answer at / and under this prefix (default %(default)s)")
    g.add_argument("--max-body-bytes", type=int, default=env("JOULIE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, int),
                   help="larger request bodies are refused with 413 (default %(default)s = 128 MiB)")
    g.add_argument("--assumed-ttl", type=float, default=env("JOULIE_ASSUMED_TTL_SECONDS", 30.0, float),
                   help="seconds a just-placed pod counts on its node before the cluster shows it bound "
                        "(default %(default)s)")
    g.add_argument("--access-log", action="store_true", default=env_bool("JOULIE_ACCESS_LOG"),
                   help="log every request (off by default: the scheduler calls twice per pod)")
    g.add_argument("--shutdown-grace", type=float, default=env("JOULIE_SHUTDOWN_GRACE_SECONDS", 10.0, float),
                   help="seconds to finish in-flight requests on SIGTERM (default %(default)s)")
    add_planner_flags(p)
    add_labeller_run_flags(p)
    add_kube_flags(p)
    add_logging_flags(p)
    p.set_defaults(func=cmd_serve)
