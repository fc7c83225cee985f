"""Typed settings of ``joulie agent`` (flags and env vars are read into these at the edge)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AgentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node_name: str = Field(default="", description="This node; empty only for --restore.")
    sysfs_root: str = Field(default="/sys", description="Where the host's /sys is mounted.")
    state_dir: str = Field(default="/var/lib/joulie", description="Where original values are saved.")
    profile: str | None = Field(default=None, description="A NodePowerProfile YAML instead of the cluster.")
    once: bool = False
    dry_run: bool = False
    restore: bool = False
    inventory: bool = False
    inventory_json: bool = False
    interval_seconds: float = Field(default=30.0, gt=0)
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    gpu: Literal["auto", "off"] = "auto"
    min_cap_pct: float = Field(
        default=10.0, gt=0, le=100, description="Floor, % of the package maximum, when the hardware gives no minimum."
    )
    min_cap_watts: float = Field(
        default=10.0,
        gt=0,
        description="Absolute floor per package, W, when the hardware gives neither a minimum nor a maximum.",
    )
    strict_limits: bool = False
    package_max_watts: float | None = Field(default=None, gt=0)
    reserved_cpus: frozenset[int] = Field(
        default=frozenset(), description="kubelet --reserved-cpus: never touched by any per-core control."
    )
    pod_resources_socket: str = Field(
        default="/var/lib/kubelet/pod-resources/kubelet.sock",
        description="kubelet PodResources socket for pod power profiles; empty turns them off.",
    )
    kubeconfig: str | None = None
    context: str | None = None
