"""The extender's HTTP flags and their typed settings; ``joulie serve`` (:mod:`joulie.serve`) uses them."""

from __future__ import annotations

import argparse
import os

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
        "--body-timeout",
        type=float,
        default=env("JOULIE_BODY_TIMEOUT_SECONDS", d.body_timeout_seconds, float),
        help="a request body must arrive within this many seconds, else 408 (default %(default)s)",
    )
    g.add_argument(
        "--header-timeout",
        type=float,
        default=env("JOULIE_HEADER_TIMEOUT_SECONDS", d.header_timeout_seconds, float),
        help="connections whose request headers take longer are closed (default %(default)s)",
    )
    g.add_argument(
        "--max-inflight-bytes",
        type=int,
        default=env("JOULIE_MAX_INFLIGHT_BYTES", d.max_inflight_bytes, int),
        help="request bodies being read at once may hold at most this, else 503 (default %(default)s)",
    )
    g.add_argument(
        "--max-connections",
        type=int,
        default=env("JOULIE_MAX_CONNECTIONS", d.max_connections, int),
        help="connections and requests at once; more get 503 (default %(default)s)",
    )
    t = p.add_argument_group("tls and exposure")
    t.add_argument(
        "--tls-cert-file",
        default=env("JOULIE_TLS_CERT_FILE", None),
        help="serve HTTPS with this certificate (PEM); kube-scheduler's enableHTTPS",
    )
    t.add_argument("--tls-key-file", default=env("JOULIE_TLS_KEY_FILE", None), help="its private key (PEM)")
    t.add_argument(
        "--tls-client-ca-file",
        default=env("JOULIE_TLS_CLIENT_CA_FILE", None),
        help="require client certificates signed by this CA (the scheduler's tlsConfig certFile/keyFile)",
    )
    t.add_argument(
        "--probe-port",
        type=int,
        default=env("JOULIE_PROBE_PORT", d.probe_port, int),
        help="also serve /healthz, /readyz and /metrics over plain HTTP on this port (needed with "
        "client certificates: kubelet and Prometheus have none; 0 = off)",
    )
    t.add_argument(
        "--plan-port",
        type=int,
        default=env("JOULIE_PLAN_PORT", d.plan_port, int),
        help="serve /plan (node and pod names) only on this port, bound to --plan-host; 0 = on the "
        "main port, behind its TLS (default)",
    )
    t.add_argument(
        "--plan-host",
        default=env("JOULIE_PLAN_HOST", d.plan_host),
        help="listen address of --plan-port (default %(default)s: reach it with kubectl port-forward)",
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
    for flag, value in (("--body-timeout", args.body_timeout), ("--header-timeout", args.header_timeout)):
        if value <= 0:
            raise ConfigError(f"{flag} must be positive, got {value}")
    if args.max_inflight_bytes < args.max_body_bytes:
        raise ConfigError(
            f"--max-inflight-bytes ({args.max_inflight_bytes}) must be at least --max-body-bytes "
            f"({args.max_body_bytes}), or no full-size request could ever be read"
        )
    if args.max_connections < 1:
        raise ConfigError(f"--max-connections must be at least 1, got {args.max_connections}")
    if bool(args.tls_cert_file) != bool(args.tls_key_file):
        raise ConfigError("--tls-cert-file and --tls-key-file go together")
    if args.tls_client_ca_file and not args.tls_cert_file:
        raise ConfigError(
            "--tls-client-ca-file needs --tls-cert-file and --tls-key-file (client certificates "
            "are verified on a TLS connection)"
        )
    if args.tls_client_ca_file and not args.probe_port:
        raise ConfigError(
            "--tls-client-ca-file needs --probe-port: kubelet probes and Prometheus present no client certificate"
        )
    for flag in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
        path = getattr(args, flag)
        if path and not os.access(path, os.R_OK):
            raise ConfigError(f"--{flag.replace('_', '-')} {path}: cannot read it")
    ports = [p for p in (args.port, args.probe_port, args.plan_port) if p]
    if len(set(ports)) != len(ports):
        raise ConfigError(f"--port, --probe-port and --plan-port must differ, got {ports}")
    try:
        return ServeSettings(
            host=args.host,
            port=args.port,
            url_prefix=args.url_prefix,
            max_body_bytes=args.max_body_bytes,
            assumed_ttl_seconds=args.assumed_ttl,
            access_log=args.access_log,
            shutdown_grace_seconds=args.shutdown_grace,
            body_timeout_seconds=args.body_timeout,
            header_timeout_seconds=args.header_timeout,
            max_inflight_bytes=args.max_inflight_bytes,
            max_connections=args.max_connections,
            tls_cert_file=args.tls_cert_file,
            tls_key_file=args.tls_key_file,
            tls_client_ca_file=args.tls_client_ca_file,
            probe_port=args.probe_port,
            plan_port=args.plan_port,
            plan_host=args.plan_host,
            power=power_settings(args),
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid serve settings: {validation_details(exc)}") from None
