"""``joulie agent``: enforce this node's NodePowerProfile (or a YAML file) on the hardware."""

from __future__ import annotations

import argparse

import yaml
from pydantic import ValidationError

from agent.cpuset import CpusetError, parse_cpuset
from agent.settings import AgentSettings
from joulie.api.v1alpha1 import NPP_KIND
from joulie.cliutil import ConfigError, add_kube_flags, add_logging_flags, env, env_bool
from joulie.logs import setup_logging
from joulie.validation import validation_details


def _node_from_file(path: str) -> str:
    try:
        with open(path) as fh:
            docs = list(yaml.safe_load_all(fh))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--profile {path}: {exc}") from None
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind", NPP_KIND) == NPP_KIND:
            name = (doc.get("spec") or {}).get("nodeName")
            if isinstance(name, str) and name:
                return name
    raise ConfigError(f"--profile {path} names no spec.nodeName; pass --node-name")


def agent_settings(args: argparse.Namespace) -> AgentSettings:
    if args.interval <= 0:
        raise ConfigError("--interval must be positive")
    if not 0 < args.min_cap_pct <= 100:
        raise ConfigError("--min-cap-pct must be in (0, 100]")
    if args.package_max_watts is not None and args.package_max_watts <= 0:
        raise ConfigError("--package-max-watts must be positive")
    if args.min_cap_watts <= 0:
        raise ConfigError("--min-cap-watts must be positive")
    if args.json and not args.inventory:
        raise ConfigError("--json goes with --inventory")
    try:
        reserved = parse_cpuset(args.reserved_cpus or "")
    except CpusetError as exc:
        raise ConfigError(f"--reserved-cpus: {exc}") from None
    node = args.node_name
    if not node:
        if args.profile:
            node = _node_from_file(args.profile)
        elif not args.restore and not args.inventory:
            raise ConfigError("--node-name (env NODE_NAME) is required unless --profile is given")
    try:
        return AgentSettings(
            node_name=node or "",
            sysfs_root=args.sysfs_root,
            state_dir=args.state_dir,
            profile=args.profile,
            once=args.once,
            dry_run=args.dry_run,
            restore=args.restore,
            inventory=args.inventory,
            inventory_json=args.json,
            interval_seconds=args.interval,
            metrics_port=args.metrics_port,
            gpu=args.gpu,
            min_cap_pct=args.min_cap_pct,
            min_cap_watts=args.min_cap_watts,
            strict_limits=args.strict_limits,
            package_max_watts=args.package_max_watts,
            reserved_cpus=reserved,
            pod_resources_socket=args.pod_resources_socket,
            kubeconfig=args.kubeconfig,
            context=args.context,
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid agent settings: {validation_details(exc)}") from None


def cmd_agent(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    settings = agent_settings(args)
    from agent.run import run_agent

    return run_agent(settings)


def register(sub: argparse._SubParsersAction) -> None:
    d = AgentSettings()
    p = sub.add_parser(
        "agent",
        help="apply this node's NodePowerProfile to RAPL, cpufreq and NVML",
        description="Make this node's NodePowerProfile true on the hardware, report it in the status, "
        "export telemetry, and restore the original settings on exit.",
    )
    p.add_argument(
        "--node-name",
        default=env("NODE_NAME", None),
        help="this node (env NODE_NAME); required unless --profile is given",
    )
    p.add_argument(
        "--sysfs-root",
        default=env("JOULIE_SYSFS_ROOT", d.sysfs_root),
        help="where the host's /sys is mounted (env JOULIE_SYSFS_ROOT; default %(default)s)",
    )
    p.add_argument(
        "--state-dir",
        default=env("JOULIE_STATE_DIR", d.state_dir),
        help="where original values are saved before the first write (env JOULIE_STATE_DIR; default %(default)s)",
    )
    p.add_argument(
        "--profile",
        metavar="FILE",
        default=env("JOULIE_PROFILE", None),
        help="apply a NodePowerProfile YAML (optionally followed by a TelemetryProfile) "
        "instead of watching the cluster",
    )
    p.add_argument("--once", action="store_true", help="apply once and exit (originals stay saved)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        default=env_bool("JOULIE_DRY_RUN"),
        help="log the writes that would happen; write nothing (hardware, state or status)",
    )
    p.add_argument("--restore", action="store_true", help="write the saved originals back and exit")
    p.add_argument(
        "--inventory",
        action="store_true",
        help="print what this node supports (governors, EPP, C-states, uncore, frequency range, RAPL zones) "
        "and exit; reads --sysfs-root only, needs no cluster",
    )
    p.add_argument(
        "--json", action="store_true", help="with --inventory: JSON (status.capabilities) instead of a table"
    )
    p.add_argument(
        "--interval",
        type=float,
        default=env("JOULIE_AGENT_INTERVAL_SECONDS", d.interval_seconds, float),
        help="seconds between re-apply/verify and telemetry passes "
        "(env JOULIE_AGENT_INTERVAL_SECONDS; default %(default)s)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=env("JOULIE_METRICS_PORT", d.metrics_port, int),
        help="port of /metrics, /healthz, /readyz; 0 disables (env JOULIE_METRICS_PORT; default %(default)s)",
    )
    p.add_argument(
        "--gpu",
        choices=["auto", "off"],
        default=env("JOULIE_GPU", d.gpu),
        help="drive GPU power limits through NVML when present (env JOULIE_GPU; default %(default)s)",
    )
    pp = p.add_argument_group("pod power profiles (PowerProfile, power.joulie.io/<profile>)")
    pp.add_argument(
        "--reserved-cpus",
        default=env("JOULIE_RESERVED_CPUS", ""),
        metavar="CPUS",
        help="the kubelet's --reserved-cpus (e.g. 0-1,32-33): no per-core control ever writes them "
        "(env JOULIE_RESERVED_CPUS; default none)",
    )
    pp.add_argument(
        "--pod-resources-socket",
        default=env("JOULIE_POD_RESOURCES_SOCKET", d.pod_resources_socket),
        metavar="PATH",
        help="kubelet PodResources API socket (v1.PodResourcesLister/List) that says which exclusive CPUs each "
        "container holds; empty turns pod power profiles off (env JOULIE_POD_RESOURCES_SOCKET; default %(default)s)",
    )
    g = p.add_argument_group("cap limits")
    g.add_argument(
        "--min-cap-pct",
        type=float,
        default=env("JOULIE_AGENT_MIN_CAP_PCT", d.min_cap_pct, float),
        help="refuse CPU caps below this %% of the package maximum when the hardware reports no "
        "minimum (env JOULIE_AGENT_MIN_CAP_PCT; default %(default)s)",
    )
    g.add_argument(
        "--min-cap-watts",
        type=float,
        default=env("JOULIE_AGENT_MIN_CAP_WATTS", d.min_cap_watts, float),
        help="refuse CPU caps below this many watts per package when the hardware reports neither a minimum "
        "nor a maximum (env JOULIE_AGENT_MIN_CAP_WATTS; default %(default)s)",
    )
    g.add_argument(
        "--strict-limits",
        action="store_true",
        default=env_bool("JOULIE_AGENT_STRICT_LIMITS"),
        help="refuse caps above the hardware maximum instead of clamping them to it (env JOULIE_AGENT_STRICT_LIMITS)",
    )
    g.add_argument(
        "--package-max-watts",
        type=float,
        default=env("JOULIE_AGENT_PACKAGE_MAX_WATTS", None, float),
        help="package maximum power used to turn watts into a DVFS frequency when RAPL reports none "
        "(env JOULIE_AGENT_PACKAGE_MAX_WATTS)",
    )
    add_kube_flags(p)
    add_logging_flags(p)
    p.set_defaults(func=cmd_agent)
