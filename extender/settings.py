"""Typed settings of the extender's HTTP server (read from flags and env vars at the edge)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MAX_BODY_BYTES = 128 * 1024 * 1024


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
    access_log: bool = False
    shutdown_grace_seconds: float = Field(
        default=10.0, ge=0, description="Time to finish in-flight requests on SIGTERM."
    )
