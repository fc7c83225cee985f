"""``PowerCappingPolicy``: a power budget a facility can rely on (seed: the power-capping CRD).

The seed's fields keep their names and meanings (``powerCapLimit``, ``rackConstraints``,
``performancePowerRatio``, ``customAlgorithm``); what the seed leaves open has a default an
operator expects: the nodes a policy governs (``nodeSelector``, default the managed nodes),
the label naming a node's rack (``rackLabel``), where the performance figure of the ratio
comes from (``performanceSource``), and when telemetry counts as stale (``telemetry``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import Field, model_validator

from joulie.api.v1alpha1.common import (
    AGE_COLUMN,
    API_VERSION,
    ApiModel,
    Condition,
    CrdSpec,
    PrinterColumn,
    SpecModel,
    condition_column,
)

PCP_KIND: Final = "PowerCappingPolicy"
PCP_PLURAL: Final = "powercappingpolicies"
DEFAULT_RACK_LABEL: Final = "topology.joulie.io/rack"


class RackConstraint(SpecModel):
    rack_id: str = Field(min_length=1, description="The rack, as the value of the nodes' rack label.")
    max_power: float | None = Field(default=None, gt=0, description="Most the rack's nodes may draw, in watts.")
    max_temperature: float | None = Field(
        default=None, description="Above this (degrees Celsius) the rack gets a staged response."
    )
    temperature_margin: float = Field(
        default=2.0, ge=0, description="The response clears only below maxTemperature minus this."
    )


class PerformanceSource(SpecModel):
    """Where the measured performance figure comes from (the numerator of the ratio)."""

    type: Literal["prometheus", "http"]
    endpoint: str = Field(min_length=1, description="Prometheus base URL, or the URL of a JSON document.")
    query: str | None = Field(default=None, description="PromQL query returning one number (type prometheus).")
    field: str | None = Field(default=None, description="Dotted path of the number in the JSON (type http).")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _what_to_read(self) -> PerformanceSource:
        if self.type == "prometheus" and not self.query:
            raise ValueError("a prometheus performanceSource needs query")
        if self.type == "http" and not self.field:
            raise ValueError("an http performanceSource needs field")
        return self


class PerformancePowerRatio(SpecModel):
    target_ratio: float = Field(gt=0, description="Desired performance per watt.")
    tolerance_percentage: float = Field(default=10.0, ge=0, le=100, description="Band around the target.")


class CustomAlgorithm(SpecModel):
    name: str = Field(min_length=1, description="A registered budget algorithm (see docs/budgets.md).")
    parameters: dict[str, Any] | None = Field(
        default=None,
        description="Validated by the algorithm's own parameter model.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class TelemetrySettings(SpecModel):
    stale_after_seconds: float = Field(
        default=120.0, gt=0, description="Node power older than this is stale: its caps are kept, never raised."
    )
    node_overhead_watts: float = Field(
        default=0.0,
        ge=0,
        description="Power of a node that no cap removes and the agents do not measure (fans, memory, PSU).",
    )


class PowerCappingPolicySpec(SpecModel):
    power_cap_limit: float = Field(gt=0, description="Most the governed nodes may draw together, in watts.")
    rack_constraints: list[RackConstraint] | None = None
    performance_power_ratio: PerformancePowerRatio | None = None
    custom_algorithm: CustomAlgorithm | None = None
    node_selector: str | None = Field(
        default=None, description="Label selector of the governed nodes (default: the labeller's managed nodes)."
    )
    rack_label: str = Field(default=DEFAULT_RACK_LABEL, min_length=1, description="Node label naming its rack.")
    performance_source: PerformanceSource | None = None
    telemetry: TelemetrySettings | None = None
    margin_percent: float = Field(
        default=2.0,
        ge=0,
        le=50,
        description="The controller aims this far below powerCapLimit (and each rack's maxPower), so "
        "load that lands between two reconciles stays under the limit.",
    )


class RackStatus(ApiModel):
    rack_id: str
    power_watts: float | None = None
    temperature: float | None = None
    stage: int = Field(default=0, ge=0, le=3, description="0 normal, 1 no new work, 2 eco capped, 3 all capped.")
    trim_watts: float | None = Field(default=None, ge=0, description="Taken off the rack's limit (see the policy's).")


class SteeredNode(ApiModel):
    name: str
    until: datetime = Field(description="New eco and general work avoids the node until then.")


class PowerCappingPolicyStatus(ApiModel):
    observed_generation: int | None = Field(default=None, ge=0)
    measured_power_watts: float | None = None
    budget_watts: float | None = None
    headroom_watts: float | None = None
    shortfall_watts: float | None = None
    state: str | None = Field(default=None, description="WithinBudget, OverBudget, BudgetInsufficient, ...")
    nodes: int | None = Field(default=None, ge=0, description="Nodes the policy governs.")
    capped_nodes: int | None = Field(default=None, ge=0, description="Nodes whose caps the budget lowered.")
    ratio: float | None = Field(default=None, description="Measured performance per watt.")
    ratio_scale: float | None = Field(default=None, description="Share of the budget above the floors handed out.")
    trim_watts: float | None = Field(
        default=None, ge=0, description="Taken off the budget because measured power ended above the shares."
    )
    racks: list[RackStatus] | None = None
    steered_nodes: list[SteeredNode] | None = None
    last_updated: datetime | None = None
    conditions: list[Condition] | None = None


class PowerCappingPolicy(ApiModel):
    api_version: Literal["joulie.io/v1alpha1"] = API_VERSION
    kind: Literal["PowerCappingPolicy"] = PCP_KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: PowerCappingPolicySpec
    status: PowerCappingPolicyStatus | None = None


CRD = CrdSpec(
    kind=PCP_KIND,
    plural=PCP_PLURAL,
    short_names=("pcp",),
    spec_model=PowerCappingPolicySpec,
    status_model=PowerCappingPolicyStatus,
    columns=(
        PrinterColumn("Limit", "number", ".spec.powerCapLimit", "Budget in watts"),
        PrinterColumn("Measured", "number", ".status.measuredPowerWatts", "Measured power of the governed nodes"),
        PrinterColumn("Headroom", "number", ".status.headroomWatts"),
        PrinterColumn("State", "string", ".status.state"),
        condition_column("Fresh", "TelemetryFresh"),
        PrinterColumn("Nodes", "integer", ".status.nodes", priority=1),
        AGE_COLUMN,
    ),
    description="A power budget for a set of nodes, kept by the labeller through the caps the agents apply.",
)
