"""The extender's HTTP flags and their typed settings; ``joulie serve`` (:mod:`joulie.serve`) uses them."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from extender.settings import PowerSettings, ServeSettings
from joulie.cliutil import ConfigError, env, env_bool
from joulie.validation import validation_details


def add_http_flags(p: argparse.ArgumentParser) -> None:
    d = ServeSettings()
    g = p.add_argument_group("http")
    g.add_argument("--host", default=env("JOULIE_HOST", d.host), help="listen address (default %(default)s)")
    g.add_argument(
        "--port", type=int, default=env("JOULIE_PORT", d.port, int), help="listen port (default %(default)s)"
    )
    g.add_argument(
        "--url-prefix",
        default=env("JOULIE_URL_PREFIX", d.url_prefix),
        help="routes answer at / and under this prefix (default %(default)s)",
    )
    g.add_argument(
        "--max-body-bytes",
        type=int,
        default=env("JOULIE_MAX_BODY_BYTES", d.max_body_bytes, int),
        help=f"larger request bodies are refused with 413 (default %(default)s = {d.max_body_bytes // 2**20} MiB)",
    )
    g.add_argument(
        "--assumed-ttl",
        type=float,
        default=env("JOULIE_ASSUMED_TTL_SECONDS", d.assumed_ttl_seconds, float),
        help="seconds a just-placed pod counts on its node before the cluster shows it bound (default %(default)s)",
    )
    g.add_argument(
        "--access-log",
        action="store_true",
        default=env_bool("JOULIE_ACCESS_LOG"),
        help="log every request (off by default: the scheduler calls twice per pod)",
    )
    g.add_argument(
        "--shutdown-grace",
        type=float,
        default=env("JOULIE_SHUTDOWN_GRACE_SECONDS", d.shutdown_grace_seconds, float),
        help="seconds to finish in-flight requests on SIGTERM (default %(default)s)",
    )


def add_power_flags(p: argparse.ArgumentParser) -> None:
    d = PowerSettings()
    g = p.add_argument_group("power-aware scoring")
    g.add_argument(
        "--power-aware-scoring",
        action="store_true",
        default=env_bool("JOULIE_POWER_AWARE_SCORING"),
        help="prioritize by the predicted watts a pod adds to each node, within the supply bands "
        "(off: today's packing score)",
    )
    g.add_argument(
        "--power-assumption-factor",
        type=float,
        default=env("JOULIE_POWER_ASSUMPTION_FACTOR", d.assumption_factor, float),
        help="share of its CPU request a bound-but-not-running pod is assumed to use (default %(default)s)",
    )
    g.add_argument(
        "--power-curve-watts",
        default=env("JOULIE_POWER_CURVE_WATTS", ",".join(f"{w:g}" for w in d.curve_watts)),
        metavar="W0,W10,...,W100",
        help="default parametric model for nodes no FacilityTelemetryTemplate configures: wall watts at idle, "
        "10 %%, ..., 100 %% load (default %(default)s)",
    )
    g.add_argument(
        "--power-gpu-idle-watts",
        type=float,
        default=env("JOULIE_POWER_GPU_IDLE_WATTS", d.gpu_idle_watts, float),
        help="default parametric model: watts of one idle GPU (default %(default)s)",
    )
    g.add_argument(
        "--power-gpu-busy-watts",
        type=float,
        default=env("JOULIE_POWER_GPU_BUSY_WATTS", d.gpu_busy_watts, float),
        help="default parametric model: watts of one busy GPU (default %(default)s)",
    )


def power_settings(args: argparse.Namespace) -> PowerSettings:
    try:
        curve = tuple(float(w) for w in str(args.power_curve_watts).split(",") if w.strip())
    except ValueError:
        raise ConfigError(
            f"--power-curve-watts expects 11 comma-separated numbers, got {args.power_curve_watts!r}"
        ) from None
    try:
        return PowerSettings(
            enabled=args.power_aware_scoring,
            assumption_factor=args.power_assumption_factor,
            curve_watts=curve,
            gpu_idle_watts=args.power_gpu_idle_watts,
            gpu_busy_watts=args.power_gpu_busy_watts,
        )
    except (ValidationError, ValueError) as exc:
        details = validation_details(exc) if isinstance(exc, ValidationError) else str(exc)
        raise ConfigError(f"invalid power-aware scoring settings: {details}") from None


def serve_settings(args: argparse.Namespace) -> ServeSettings:
    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be 1..65535, got {args.port}")
    if args.max_body_bytes < 1024:
        raise ConfigError(f"--max-body-bytes must be at least 1024, got {args.max_body_bytes}")
    if args.assumed_ttl <= 0:
        raise ConfigError(f"--assumed-ttl must be positive, got {args.assumed_ttl}")
    try:
        return ServeSettings(
            host=args.host,
            port=args.port,
            url_prefix=args.url_prefix,
            max_body_bytes=args.max_body_bytes,
            assumed_ttl_seconds=args.assumed_ttl,
            access_log=args.access_log,
            shutdown_grace_seconds=args.shutdown_grace,
            power=power_settings(args),
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid serve settings: {validation_details(exc)}") from None
