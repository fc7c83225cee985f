"""Planner configuration: the knobs an operator sets with flags, env vars or Helm values."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from joulie.api.labels import DEFAULT_NODE_SELECTOR
from labeller.policies import DEFAULT_POLICY, POLICIES, build_policy
from labeller.selector import LabelSelector


class CapSettings(BaseModel):
    """Caps written into the NodePowerProfile of a node in one profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_watts: float | None = Field(default=None, ge=1, description="CPU package cap per package, watts.")
    cpu_pct_of_max: float | None = Field(default=None, ge=1, le=100)
    gpu_watts: float | None = Field(default=None, ge=1, description="GPU board power cap per GPU, watts.")
    gpu_pct_of_max: float | None = Field(default=None, ge=1, le=100)


PERFORMANCE_CAPS = CapSettings(cpu_watts=5000)
ECO_CAPS = CapSettings(cpu_watts=120, gpu_pct_of_max=60)


class PlannerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node_selector: str = DEFAULT_NODE_SELECTOR
    policy: str = DEFAULT_POLICY
    policy_params: dict[str, Any] = Field(default_factory=dict)
    performance_caps: CapSettings = PERFORMANCE_CAPS
    eco_caps: CapSettings = ECO_CAPS
    draining_caps: Literal["performance", "eco"] = Field(
        default="performance",
        description="Caps of a draining node: performance keeps its running performance pods at full speed "
        "until they finish (the node is already eco for the scheduler); eco caps at once, like upstream.",
    )
    dwell_seconds: float = Field(
        default=0.0, ge=0, description="Minimum time a node stays performance before it may go eco (0 = upstream)."
    )
    feedback_pods_per_node: int = Field(
        default=10, ge=1, description="Unplaceable performance pods that justify promoting one more node."
    )
    feedback_hold_seconds: float = Field(
        default=120.0, ge=0, description="How long a promotion asked for by the extender is kept."
    )

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in POLICIES:
            raise ValueError(f"unknown policy {value!r}; choose one of {', '.join(sorted(POLICIES))}")
        return value

    @field_validator("node_selector")
    @classmethod
    def _valid_selector(cls, value: str) -> str:
        LabelSelector.parse(value)
        return value

    def build_policy(self):  # noqa: ANN201 - returns labeller.policies.Policy
        return build_policy(self.policy, self.policy_params)

    def selector(self) -> LabelSelector:
        return LabelSelector.parse(self.node_selector)
