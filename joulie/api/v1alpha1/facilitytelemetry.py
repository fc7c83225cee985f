"""``FacilityTelemetryTemplate``: how ``joulie serve`` reads a node's facility telemetry and predicts its power.

Cluster-scoped, selecting nodes by name or by label selector (WAO's NodeConfig and
NodeConfigTemplate in one kind). Endpoints are templates: ``{nodeName}``,
``{nodeAddress}`` (InternalIP, else ExternalIP, else the first address),
``{nodeHostname}`` and ``{nodeLabel:KEY}`` are replaced per node, so one object
configures a whole rack of BMCs.

Why a kind of its own and not more fields on ``TelemetryProfile``: a TelemetryProfile
is the node agent's contract (what the agent on one node reads and writes, its status
written by that agent), while facility telemetry is read cluster-side by ``joulie
serve`` for many nodes at once, from endpoints derived per node, with credentials
from the release namespace; one object per rack or hardware class instead of one per
node, with its own status writer.

Credentials: ``basicAuthSecret.name`` names a Secret in the namespace ``joulie serve``
runs in (keys ``username`` and ``password``), read through a namespaced Role; never a
Secret of another namespace, never logged, never shown in ``/plan``.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from pydantic import Field, field_validator, model_validator

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

FT_KIND: Final = "FacilityTelemetryTemplate"
FT_PLURAL: Final = "facilitytelemetrytemplates"

DURATION_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

PLACEHOLDER_PATTERN: Final = re.compile(r"\{([^{}]*)\}")
PLACEHOLDERS: Final = ("nodeName", "nodeAddress", "nodeHostname", "nodeLabel:KEY")

DEFAULT_FETCH_INTERVAL: Final = "15s"
DEFAULT_TIMEOUT: Final = "5s"
DEFAULT_TTL: Final = "60s"
DEFAULT_PROVIDER_INTERVAL: Final = "5m"

Duration = str


def duration_seconds(text: str) -> float:
    """Seconds of a Go-style duration (``15s``, ``1m30s``, ``500ms``); ``ValueError`` otherwise."""
    if not re.fullmatch(DURATION_PATTERN, text or ""):
        raise ValueError(f"invalid duration {text!r}: use a number with a unit, e.g. 15s, 1m30s, 500ms")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def check_endpoint_template(text: str) -> str:
    """``text`` if every ``{...}`` in it is a known placeholder, else ``ValueError``."""
    for name in PLACEHOLDER_PATTERN.findall(text):
        if name in ("nodeName", "nodeAddress", "nodeHostname"):
            continue
        if name.startswith("nodeLabel:") and len(name) > len("nodeLabel:"):
            continue
        raise ValueError(f"unknown placeholder {{{name}}} in {text!r}; known: " + ", ".join(PLACEHOLDERS))
    if not text.startswith(("http://", "https://", "{")):
        raise ValueError(f"endpoint {text!r} must be an http:// or https:// URL")
    return text


class SecretRef(SpecModel):
    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Secret in the release namespace with keys username and password.",
    )


class TlsConfig(SpecModel):
    ca_bundle: str | None = Field(
        default=None, description="PEM CA certificates that sign the endpoint's certificate (default: system CAs)."
    )
    insecure_skip_verify: bool = Field(
        default=False, description="Do not verify the endpoint's certificate (lab BMCs with self-signed certificates)."
    )


class _Endpoint(SpecModel):
    endpoint: str | None = Field(
        default=None,
        description="URL template: {nodeName}, {nodeAddress}, {nodeHostname} and {nodeLabel:KEY} are replaced per node.",
    )
    basic_auth_secret: SecretRef | None = None
    timeout: Duration = Field(default=DEFAULT_TIMEOUT, pattern=DURATION_PATTERN, description="Per request.")
    tls: TlsConfig | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        return check_endpoint_template(v) if v else v


class _Collected(_Endpoint):
    fetch_interval: Duration = Field(default=DEFAULT_FETCH_INTERVAL, pattern=DURATION_PATTERN)
    ttl: Duration = Field(
        default=DEFAULT_TTL, pattern=DURATION_PATTERN, description="A value older than this counts as stale."
    )

    @model_validator(mode="after")
    def _ttl_covers_interval(self) -> _Collected:
        if duration_seconds(self.ttl) < duration_seconds(self.fetch_interval):
            raise ValueError(f"ttl {self.ttl} is shorter than fetchInterval {self.fetch_interval}")
        return self

    def _need_endpoint(self, kind: str, real_type: str) -> None:
        if getattr(self, "type", None) == real_type and not self.endpoint:
            raise ValueError(f"{kind} of type {real_type} needs an endpoint")


class InletTempSource(_Collected):
    type: Literal["Redfish", "Fake"]
    sensor_path: str | None = Field(
        default=None,
        pattern=r"^/redfish/v1/",
        description="Redfish resource holding the inlet sensor; discovered (Thermal, Sensors, vendor paths) when unset.",
    )
    value: float | None = Field(
        default=None, description="Fake: the inlet temperature reported, degrees Celsius (default 22)."
    )

    @model_validator(mode="after")
    def _endpoint_for_type(self) -> InletTempSource:
        self._need_endpoint("inletTemp", "Redfish")
        return self


class DeltaPSource(_Collected):
    type: Literal["DifferentialPressureAPI", "Fake"]
    sensor_node_name: str | None = Field(
        default=None, description="Name the API knows the node by (template, default {nodeName})."
    )
    value: float | None = Field(
        default=None, description="Fake: the differential pressure reported, pascals (default 0)."
    )

    @model_validator(mode="after")
    def _endpoint_for_type(self) -> DeltaPSource:
        self._need_endpoint("deltaP", "DifferentialPressureAPI")
        return self


class MetricsCollector(SpecModel):
    inlet_temp: InletTempSource | None = None
    delta_p: DeltaPSource | None = None


class ParametricParams(SpecModel):
    curve_watts: list[float] | None = Field(
        default=None,
        min_length=11,
        max_length=11,
        description="Wall watts at idle, 10 %, ..., 100 % CPU load (default: the simulator's reference server).",
    )
    gpu_idle_watts: float | None = Field(default=None, ge=0, description="Per GPU, idle.")
    gpu_busy_watts: float | None = Field(default=None, ge=0, description="Per GPU, running a job.")


class PowerConsumptionPredictor(_Collected):
    type: Literal["V2InferenceProtocol", "Parametric", "Fake"] | None = Field(
        default=None,
        description="Unset: set by the endpoint provider, else Parametric. fetchInterval: how often the curve is refreshed.",
    )
    parametric: ParametricParams | None = None
    value: float | None = Field(default=None, ge=0, description="Fake: constant watts at every load (default 0).")

    @model_validator(mode="after")
    def _endpoint_for_type(self) -> PowerConsumptionPredictor:
        self._need_endpoint("powerConsumption", "V2InferenceProtocol")
        return self


class EndpointProvider(_Endpoint):
    type: Literal["Redfish", "Fake"]
    fetch_interval: Duration = Field(
        default=DEFAULT_PROVIDER_INTERVAL, pattern=DURATION_PATTERN, description="How often the endpoint is re-read."
    )

    @model_validator(mode="after")
    def _endpoint_for_type(self) -> EndpointProvider:
        if not self.endpoint:
            raise ValueError(f"powerConsumptionEndpointProvider of type {self.type} needs an endpoint")
        return self


class Predictor(SpecModel):
    power_consumption: PowerConsumptionPredictor | None = None
    power_consumption_endpoint_provider: EndpointProvider | None = None


class SelectorRequirement(SpecModel):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class NodeSelector(SpecModel):
    match_labels: dict[str, str] | None = None
    match_expressions: list[SelectorRequirement] | None = None


class FacilityTelemetryTemplateSpec(SpecModel):
    node_name: str | None = Field(default=None, min_length=1, description="One node; wins over selector templates.")
    node_selector: NodeSelector | None = Field(
        default=None, description="Nodes by label; an empty selector selects every node."
    )
    metrics_collector: MetricsCollector | None = None
    predictor: Predictor | None = None

    @model_validator(mode="after")
    def _one_target(self) -> FacilityTelemetryTemplateSpec:
        if (self.node_name is None) == (self.node_selector is None):
            raise ValueError("set exactly one of nodeName and nodeSelector")
        return self


class FacilityTelemetryTemplateStatus(ApiModel):
    observed_generation: int | None = Field(default=None, ge=0)
    matched_nodes: int | None = Field(default=None, ge=0, description="Nodes this template configures.")
    shadowed_nodes: int | None = Field(
        default=None, ge=0, description="Selected nodes configured by another template (nodeName first, then by name)."
    )
    fresh_nodes: int | None = Field(default=None, ge=0, description="Configured nodes with every value fresh.")
    conditions: list[Condition] | None = None


class FacilityTelemetryTemplate(ApiModel):
    api_version: Literal["joulie.io/v1alpha1"] = API_VERSION
    kind: Literal["FacilityTelemetryTemplate"] = FT_KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: FacilityTelemetryTemplateSpec
    status: FacilityTelemetryTemplateStatus | None = None


CRD = CrdSpec(
    kind=FT_KIND,
    plural=FT_PLURAL,
    short_names=("ftt",),
    spec_model=FacilityTelemetryTemplateSpec,
    status_model=FacilityTelemetryTemplateStatus,
    columns=(
        PrinterColumn("Node", "string", ".spec.nodeName"),
        PrinterColumn("Inlet", "string", ".spec.metricsCollector.inletTemp.type"),
        PrinterColumn("DeltaP", "string", ".spec.metricsCollector.deltaP.type"),
        PrinterColumn("Predictor", "string", ".spec.predictor.powerConsumption.type"),
        PrinterColumn("Matched", "integer", ".status.matchedNodes"),
        PrinterColumn("Fresh", "integer", ".status.freshNodes"),
        condition_column("Ready", "Ready"),
        AGE_COLUMN,
    ),
    description="How joulie serve reads facility telemetry (inlet temperature, differential pressure) "
    "and predicts the power of the nodes it selects.",
)
