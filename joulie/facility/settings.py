"""Typed settings of the facility collectors in ``joulie serve`` (flags and env vars read at the edge)."""

from __future__ import annotations

import argparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from joulie.cliutil import ConfigError, env, env_bool
from joulie.facility.collector import DEFAULT_WORKERS
from joulie.validation import validation_details


class FacilitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=False,
        description="Watch FacilityTelemetryTemplates and collect what they configure (needs the CRD and RBAC).",
    )
    namespace: str = Field(
        default="default", min_length=1, description="The release namespace: basic-auth Secrets are read from it only."
    )
    workers: int = Field(default=DEFAULT_WORKERS, ge=1, le=256, description="Fetches in flight at most.")
    status_interval_seconds: float = Field(default=15.0, gt=0, description="How often template status is written.")


def add_facility_flags(p: argparse.ArgumentParser) -> None:
    d = FacilitySettings()
    g = p.add_argument_group("facility telemetry")
    g.add_argument(
        "--facility-telemetry",
        action="store_true",
        default=env_bool("JOULIE_FACILITY_TELEMETRY"),
        help="collect inlet temperature, differential pressure and power predictions as "
        "FacilityTelemetryTemplates configure (cluster mode only)",
    )
    g.add_argument(
        "--facility-namespace",
        default=env("JOULIE_FACILITY_NAMESPACE", None) or env("POD_NAMESPACE", d.namespace),
        help="namespace of the basic-auth Secrets, the release namespace (default: $POD_NAMESPACE, else %(default)s)",
    )
    g.add_argument(
        "--facility-workers",
        type=int,
        default=env("JOULIE_FACILITY_WORKERS", d.workers, int),
        help="concurrent fetches at most (default %(default)s)",
    )
    g.add_argument(
        "--facility-status-interval",
        type=float,
        default=env("JOULIE_FACILITY_STATUS_INTERVAL_SECONDS", d.status_interval_seconds, float),
        help="seconds between FacilityTelemetryTemplate status updates (default %(default)s)",
    )


def facility_settings(args: argparse.Namespace) -> FacilitySettings:
    try:
        return FacilitySettings(
            enabled=args.facility_telemetry,
            namespace=args.facility_namespace,
            workers=args.facility_workers,
            status_interval_seconds=args.facility_status_interval,
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid facility telemetry settings: {validation_details(exc)}") from None
