"""Planner configuration: the knobs an operator sets with flags, env vars or Helm values."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from joulie.api.labels import DEFAULT_NODE_SELECTOR
from joulie.core.plan import ECO_CAPS, PERFORMANCE_CAPS, CapSettings
from joulie.core.selector import LabelSelector
from labeller.policies import DEFAULT_POLICY, POLICIES, build_policy
from labeller.templates import ControlTemplates


class PlannerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node_selector: str = DEFAULT_NODE_SELECTOR
    policy: str = DEFAULT_POLICY
    policy_params: dict[str, Any] = Field(default_factory=dict)
    performance_caps: CapSettings = PERFORMANCE_CAPS
    eco_caps: CapSettings = ECO_CAPS
    cpu_controls: ControlTemplates = Field(
        default_factory=ControlTemplates,
        description="Per-profile CPU controls beyond the cap (governor, EPP, frequency, C-states, uncore).",
    )
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
        default=120.0,
        ge=0,
        description="How long a node promoted for unplaceable performance pods stays performance for them "
        "(0 turns feedback promotions off, as upstream).",
    )

    performance_wait_target_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a performance pod may wait for room: performance nodes keep room for the waiting "
        "performance pods, the largest recent one and bursts, and a pod without room for half this long gets "
        "a node promoted for it (0 turns the wait target off: the policy alone, as upstream).",
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

    def build_policy(self):
        return build_policy(self.policy, self.policy_params)

    def selector(self) -> LabelSelector:
        return LabelSelector.parse(self.node_selector)
