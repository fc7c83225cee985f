"""Typed settings of the extender's HTTP server (read from flags and env vars at the edge)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from joulie.core.power import DEFAULT_ASSUMPTION_FACTOR, REFERENCE_CURVE_WATTS, ParametricModel, validate_curve

MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 64 * MIB
"""Full-mode requests carry every candidate Node object (about 6 KB each): 64 MiB is 10k nodes."""


class PowerSettings(BaseModel):
    """Power-aware prioritize (off: the packing score, exactly as without these settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="Score nodes by the predicted watts a pod adds.")
    assumption_factor: float = Field(
        default=DEFAULT_ASSUMPTION_FACTOR,
        ge=0,
        le=1,
        description="Share of its CPU request a bound-but-not-running (or just placed) pod is assumed to use.",
    )
    curve_watts: tuple[float, ...] = Field(
        default=REFERENCE_CURVE_WATTS,
        description="Default parametric model: wall watts at idle, 10 %, ..., 100 % load, for nodes no "
        "FacilityTelemetryTemplate configures.",
    )
    gpu_idle_watts: float = Field(default=ParametricModel().gpu_idle_watts, ge=0)
    gpu_busy_watts: float = Field(default=ParametricModel().gpu_busy_watts, ge=0)

    @field_validator("curve_watts")
    @classmethod
    def _curve(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        return validate_curve(v)

    def model(self) -> ParametricModel:
        return ParametricModel(self.curve_watts, self.gpu_idle_watts, self.gpu_busy_watts)


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="0.0.0.0", description="Listen address.")
    port: int = Field(default=8080, ge=1, le=65535)
    url_prefix: str = Field(default="/scheduler", description="Routes answer at / and under this prefix.")
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=1024, description="Larger request bodies are refused with 413."
    )
    assumed_ttl_seconds: float = Field(
        default=30.0, gt=0, description="How long a just-placed pod counts on its node before it is bound."
    )
    body_timeout_seconds: float = Field(default=30.0, gt=0, description="A request body must arrive within this.")
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Request headers must arrive within this of the first byte."
    )
    max_inflight_bytes: int = Field(
        default=2 * DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="Request bodies being read at once may hold at most this.",
    )
    max_connections: int = Field(default=64, ge=1, description="Connections and requests at once; more get 503.")
    tls_cert_file: str | None = Field(default=None, description="Serve HTTPS with this certificate (PEM).")
    tls_key_file: str | None = Field(default=None, description="The certificate's private key (PEM).")
    tls_client_ca_file: str | None = Field(
        default=None, description="Require client certificates signed by this CA (kube-scheduler's tlsConfig)."
    )
    probe_port: int = Field(
        default=0, ge=0, le=65535, description="Serve /healthz, /readyz and /metrics over plain HTTP on this port too."
    )
    plan_port: int = Field(
        default=0, ge=0, le=65535, description="Serve /plan on this port only (0: on the main port, with its TLS)."
    )
    plan_host: str = Field(default="127.0.0.1", description="Listen address of --plan-port.")
    access_log: bool = False
    shutdown_grace_seconds: float = Field(
        default=10.0, ge=0, description="Time to finish in-flight requests on SIGTERM."
    )
    power: PowerSettings = PowerSettings()
