"""Typed settings of the labeller's reconcile loop (flags and env vars are read into these at the edge)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoopSettings(BaseModel):
    """How the live labeller runs: cadence, writes, leader election, probes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_seconds: float = Field(default=30.0, gt=0, description="Seconds between periodic reconciles.")
    debounce_seconds: float = Field(default=0.2, ge=0, description="Event-triggered reconciles within this merge.")
    dry_run: bool = Field(default=False, description="Plan and log, write nothing.")
    leader_elect: bool = Field(default=False, description="Only the holder of a Lease writes.")
    lease_name: str = Field(default="joulie-labeller", min_length=1)
    lease_namespace: str = Field(default="joulie-system", min_length=1)
    lease_duration_seconds: float = Field(default=15.0, ge=1)
    identity: str | None = Field(default=None, description="Leader-election identity (default: hostname_pid).")
    once: bool = Field(default=False, description="One reconcile, then exit.")
    metrics_port: int = Field(default=9090, ge=0, le=65535, description="Port of the probes; 0 = off.")
    watch_timeout_seconds: int = Field(default=300, ge=1)
