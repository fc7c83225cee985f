"""Flag helpers shared by the subcommands: every flag also reads a ``JOULIE_*`` env var."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Callable

from pydantic import ValidationError

from joulie.api.labels import DEFAULT_NODE_SELECTOR
from joulie.validation import validation_details
from joulie.core.plan import CapSettings
from labeller.config import PlannerConfig
from labeller.policies import DEFAULT_POLICY, POLICIES

# Upstream Joulie configured its policies with these env vars; keep them working.
UPSTREAM_POLICY_ENV = {
    "STATIC_HP_FRAC": ("static_partition", "hp_frac"),
    "QUEUE_HP_BASE_FRAC": ("queue_aware_v1", "base_frac"),
    "QUEUE_HP_MIN": ("queue_aware_v1", "hp_min"),
    "QUEUE_HP_MAX": ("queue_aware_v1", "hp_max"),
    "QUEUE_PERF_PER_HP_NODE": ("queue_aware_v1", "perf_per_hp_node"),
}


class ConfigError(ValueError):
    """A flag or env var has a value we cannot use; the message names it."""


def env(name: str, default: Any = None, cast: Callable[[str], Any] = str) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not a valid {cast.__name__}") from None


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _scalar(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--policy-param expects KEY=VALUE, got {item!r}")
        params[key.strip()] = _scalar(value.strip())
    return params


def add_cap_flags(g: argparse._ActionsContainer) -> None:
    """The caps written into NodePowerProfiles; :func:`cap_settings` reads them back."""
    g.add_argument("--performance-cap-watts", type=float,
                   default=env("JOULIE_PERFORMANCE_CAP_WATTS", 5000.0, float),
                   help="CPU package cap of performance nodes, W per package (default %(default)s)")
    g.add_argument("--eco-cap-watts", type=float, default=env("JOULIE_ECO_CAP_WATTS", None, float),
                   help="CPU package cap of eco nodes, W per package (default 120 unless --eco-cap-pct is set)")
    g.add_argument("--eco-cap-pct", type=float, default=env("JOULIE_ECO_CAP_PCT", None, float),
                   help="eco CPU cap as %% of each package's maximum power, instead of watts")
    g.add_argument("--performance-gpu-cap-watts", type=float,
                   default=env("JOULIE_PERFORMANCE_GPU_CAP_WATTS", None, float))
    g.add_argument("--eco-gpu-cap-watts", type=float, default=env("JOULIE_ECO_GPU_CAP_WATTS", None, float))
    g.add_argument("--eco-gpu-cap-pct", type=float, default=env("JOULIE_ECO_GPU_CAP_PCT", 60.0, float),
                   help="eco GPU power limit as %% of the board maximum (default %(default)s; "
                        "--eco-gpu-cap-watts wins when given)")


def cap_settings(args: argparse.Namespace) -> tuple[CapSettings, CapSettings]:
    """(performance, eco) caps from the :func:`add_cap_flags` flags; eco CPU is 120 W unless set."""
    eco_cpu_set = args.eco_cap_watts is not None or args.eco_cap_pct is not None
    return (
        CapSettings(cpu_watts=args.performance_cap_watts, gpu_watts=args.performance_gpu_cap_watts),
        CapSettings(
            cpu_watts=args.eco_cap_watts if eco_cpu_set else 120.0,
            cpu_pct_of_max=args.eco_cap_pct,
            gpu_watts=args.eco_gpu_cap_watts,
            gpu_pct_of_max=args.eco_gpu_cap_pct,
        ),
    )


def add_planner_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("planning")
    g.add_argument("--node-selector", default=env("JOULIE_NODE_SELECTOR", DEFAULT_NODE_SELECTOR),
                   help="label selector of managed nodes (env JOULIE_NODE_SELECTOR; default %(default)s)")
    g.add_argument("--policy", default=env("JOULIE_POLICY", DEFAULT_POLICY), choices=sorted(POLICIES),
                   help="policy (env JOULIE_POLICY; default %(default)s)")
    g.add_argument("--policy-param", action="append", default=[], metavar="KEY=VALUE",
                   help="policy parameter, repeatable (env JOULIE_POLICY_PARAMS='k=v,k=v'); "
                        "upstream env vars such as STATIC_HP_FRAC are honoured too")
    add_cap_flags(g)
    g.add_argument("--draining-caps", choices=["performance", "eco"],
                   default=env("JOULIE_DRAINING_CAPS", "performance"),
                   help="caps of a draining node: performance (default) keeps running performance pods at full "
                        "speed until they finish; eco caps at once like upstream")
    g.add_argument("--dwell-seconds", type=float, default=env("JOULIE_DWELL_SECONDS", 0.0, float),
                   help="minimum time a node stays performance before going eco (0 = upstream behaviour)")
    g.add_argument("--feedback-hold-seconds", type=float, default=env("JOULIE_FEEDBACK_HOLD_SECONDS", 120.0, float),
                   help="how long a promotion requested by unplaceable performance pods is kept")
    g.add_argument("--feedback-pods-per-node", type=int, default=env("JOULIE_FEEDBACK_PODS_PER_NODE", 10, int),
                   help="unplaceable performance pods per extra performance node")


def planner_config(args: argparse.Namespace) -> PlannerConfig:
    params: dict[str, Any] = {}
    for env_name, (policy, key) in UPSTREAM_POLICY_ENV.items():
        if policy == args.policy and os.environ.get(env_name):
            params[key] = _scalar(os.environ[env_name])
    env_params = os.environ.get("JOULIE_POLICY_PARAMS", "")
    params.update(parse_params([p for p in env_params.split(",") if p.strip()]))
    params.update(parse_params(args.policy_param))
    try:
        performance_caps, eco_caps = cap_settings(args)
        config = PlannerConfig(
            node_selector=args.node_selector,
            policy=args.policy,
            policy_params=params,
            performance_caps=performance_caps,
            eco_caps=eco_caps,
            draining_caps=args.draining_caps,
            dwell_seconds=args.dwell_seconds,
            feedback_hold_seconds=args.feedback_hold_seconds,
            feedback_pods_per_node=args.feedback_pods_per_node,
        )
        config.build_policy()
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {validation_details(exc)}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return config


def add_logging_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", default=env("JOULIE_LOG_LEVEL", "info"),
                   choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", default=env("JOULIE_LOG_FORMAT", "json"), choices=["json", "text"])


def add_kube_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=env("KUBECONFIG", None),
                   help="kubeconfig file (default: in-cluster config, then ~/.kube/config)")
    p.add_argument("--context", default=env("JOULIE_KUBE_CONTEXT", None), help="kubeconfig context")
