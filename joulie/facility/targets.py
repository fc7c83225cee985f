"""FacilityTelemetryTemplates + nodes -> what to fetch for each node (pure: no I/O).

Precedence: a template naming the node (``nodeName``) wins over selector templates;
among selector templates the first by name wins. A node selected by a template that
lost to another counts as *shadowed* in that template's status. Endpoints are
templates (``{nodeName}``, ``{nodeAddress}``, ``{nodeHostname}``, ``{nodeLabel:KEY}``);
a node lacking the value a placeholder needs gets a target with an ``error``
(reported, never fetched).
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from joulie.api.v1alpha1.facilitytelemetry import (
    PLACEHOLDER_PATTERN,
    DeltaPSource,
    EndpointProvider,
    FacilityTelemetryTemplateSpec,
    InletTempSource,
    NodeSelector,
    PowerConsumptionPredictor,
    TlsConfig,
    duration_seconds,
)
from joulie.core.power import ParametricModel
from joulie.facility.http import NO_TLS, Tls
from joulie.jsonutil import obj as _obj
from joulie.validation import validation_details


@dataclass(frozen=True, slots=True)
class FacilityNode:
    """A node as the collectors need it: name, labels and addresses (the labeller's store keeps no addresses)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    addresses: tuple[tuple[str, str], ...] = ()
    """(type, address) in the node's status order: InternalIP, ExternalIP, Hostname, ..."""
    gpus: int = 0

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> FacilityNode:
        meta = _obj(obj.get("metadata"))
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("node without metadata.name")
        labels = meta.get("labels")
        status = _obj(obj.get("status"))
        raw = status.get("addresses")
        addresses = tuple(
            (str(a.get("type")), str(a.get("address")))
            for a in (raw if isinstance(raw, list) else [])
            if isinstance(a, dict) and a.get("address")
        )
        allocatable = _obj(status.get("allocatable"))
        gpus = 0
        for key in ("nvidia.com/gpu", "amd.com/gpu"):
            with contextlib.suppress(ValueError):
                gpus += int(str(allocatable.get(key, 0)))
        return cls(
            name=sys.intern(name),
            labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
            addresses=addresses,
            gpus=gpus,
        )

    def address(self) -> str | None:
        for wanted in ("InternalIP", "ExternalIP"):
            for kind, addr in self.addresses:
                if kind == wanted:
                    return addr
        return self.addresses[0][1] if self.addresses else None

    def hostname(self) -> str | None:
        return next((addr for kind, addr in self.addresses if kind == "Hostname"), None)


class PlaceholderError(ValueError):
    pass


def render_endpoint(template: str, node: FacilityNode) -> str:
    """``template`` with the node's values; :class:`PlaceholderError` when the node lacks one."""

    def value(name: str) -> str:
        if name == "nodeName":
            return node.name
        if name == "nodeAddress":
            addr = node.address()
            if addr is None:
                raise PlaceholderError(f"node {node.name} has no address for {{nodeAddress}}")
            return f"[{addr}]" if ":" in addr else addr
        if name == "nodeHostname":
            host = node.hostname()
            if host is None:
                raise PlaceholderError(f"node {node.name} has no Hostname address for {{nodeHostname}}")
            return host
        key = name.removeprefix("nodeLabel:")
        if key not in node.labels:
            raise PlaceholderError(f"node {node.name} has no label {key} for {{{name}}}")
        return node.labels[key]

    return PLACEHOLDER_PATTERN.sub(lambda m: value(m.group(1)), template)


def selector_matches(selector: NodeSelector, labels: Mapping[str, str]) -> bool:
    """``metav1.LabelSelector`` semantics (an empty selector matches every node)."""
    for k, v in (selector.match_labels or {}).items():
        if labels.get(k) != v:
            return False
    for req in selector.match_expressions or []:
        values = req.values or []
        present = req.key in labels
        if req.operator == "In" and not (present and labels[req.key] in values):
            return False
        if req.operator == "NotIn" and present and labels[req.key] in values:
            return False
        if req.operator == "Exists" and not present:
            return False
        if req.operator == "DoesNotExist" and present:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Timing:
    interval: float
    timeout: float
    ttl: float


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    secret: str | None
    tls: Tls
    timeout: float


@dataclass(frozen=True, slots=True)
class InletTarget:
    type: str
    timing: Timing
    endpoint: Endpoint | None = None
    sensor_path: str | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class DeltaPTarget:
    type: str
    timing: Timing
    endpoint: Endpoint | None = None
    sensor_node_name: str = ""
    value: float | None = None


@dataclass(frozen=True, slots=True)
class ProviderTarget:
    type: str
    interval: float
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class PredictorTarget:
    type: str | None
    """``None``: the endpoint provider decides (V2InferenceProtocol once it answered)."""
    timing: Timing
    endpoint: Endpoint | None = None
    secret: str | None = None
    """basicAuthSecret for an endpoint the provider supplies."""
    model: ParametricModel | None = None
    gpus: int = 0
    value: float | None = None
    provider: ProviderTarget | None = None


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """Everything to fetch for one node, from one template."""

    node: str
    template: str
    inlet: InletTarget | None = None
    delta_p: DeltaPTarget | None = None
    predictor: PredictorTarget | None = None
    error: str | None = None


@dataclass
class Resolution:
    targets: dict[str, NodeTarget] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)
    """Template name -> why its spec cannot be used."""
    matched: Counter[str] = field(default_factory=Counter)
    shadowed: Counter[str] = field(default_factory=Counter)
    broken: Counter[str] = field(default_factory=Counter)
    """Matched nodes whose endpoint could not be rendered, per template."""


def _tls(cfg: TlsConfig | None) -> Tls:
    if cfg is None:
        return NO_TLS
    return Tls(ca_bundle=cfg.ca_bundle, insecure_skip_verify=cfg.insecure_skip_verify)


def _timing(src: InletTempSource | DeltaPSource | PowerConsumptionPredictor) -> Timing:
    return Timing(duration_seconds(src.fetch_interval), duration_seconds(src.timeout), duration_seconds(src.ttl))


def _endpoint(
    src: InletTempSource | DeltaPSource | PowerConsumptionPredictor | EndpointProvider, node: FacilityNode
) -> Endpoint | None:
    if not src.endpoint:
        return None
    return Endpoint(
        render_endpoint(src.endpoint, node),
        src.basic_auth_secret.name if src.basic_auth_secret else None,
        _tls(src.tls),
        duration_seconds(src.timeout),
    )


def _parametric(src: PowerConsumptionPredictor, default: ParametricModel) -> ParametricModel:
    p = src.parametric
    if p is None:
        return default
    return ParametricModel(
        curve_watts=tuple(p.curve_watts) if p.curve_watts else default.curve_watts,
        gpu_idle_watts=p.gpu_idle_watts if p.gpu_idle_watts is not None else default.gpu_idle_watts,
        gpu_busy_watts=p.gpu_busy_watts if p.gpu_busy_watts is not None else default.gpu_busy_watts,
    )


def node_target(
    template: str, spec: FacilityTelemetryTemplateSpec, node: FacilityNode, default: ParametricModel
) -> NodeTarget:
    """The node's target under ``spec``; rendering problems become ``error``."""
    try:
        inlet = delta_p = predictor = None
        mc = spec.metrics_collector
        if mc is not None and mc.inlet_temp is not None:
            s = mc.inlet_temp
            inlet = InletTarget(s.type, _timing(s), _endpoint(s, node), s.sensor_path, s.value)
        if mc is not None and mc.delta_p is not None:
            d = mc.delta_p
            sensor = render_endpoint(d.sensor_node_name, node) if d.sensor_node_name else node.name
            delta_p = DeltaPTarget(d.type, _timing(d), _endpoint(d, node), sensor, d.value)
        pc = spec.predictor.power_consumption if spec.predictor else None
        pp = spec.predictor.power_consumption_endpoint_provider if spec.predictor else None
        provider = None
        if pp is not None:
            ep = _endpoint(pp, node)
            assert ep is not None  # the model requires it
            provider = ProviderTarget(pp.type, duration_seconds(pp.fetch_interval), ep)
        src = pc if pc is not None else PowerConsumptionPredictor()
        kind = src.type
        if kind is None and provider is None:
            kind = "V2InferenceProtocol" if src.endpoint else "Parametric"
        predictor = PredictorTarget(
            type=kind,
            timing=_timing(src),
            endpoint=_endpoint(src, node) if kind == "V2InferenceProtocol" or provider is None else None,
            secret=src.basic_auth_secret.name if src.basic_auth_secret else None,
            model=_parametric(src, default) if kind in (None, "Parametric") else None,
            gpus=node.gpus,
            value=src.value,
            provider=provider,
        )
        return NodeTarget(node.name, template, inlet, delta_p, predictor)
    except PlaceholderError as exc:
        return NodeTarget(node.name, template, error=str(exc))


def parse_spec(raw: Any) -> FacilityTelemetryTemplateSpec:
    """The spec of a FacilityTelemetryTemplate object; ``ValueError`` with the field paths otherwise."""
    try:
        return FacilityTelemetryTemplateSpec.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError as exc:
        raise ValueError(validation_details(exc)) from None


def resolve(
    templates: Mapping[str, Any], nodes: Iterable[FacilityNode], default: ParametricModel | None = None
) -> Resolution:
    """Targets for every node some template selects. ``templates``: name -> raw spec (or parsed)."""
    default = default or ParametricModel()
    out = Resolution()
    parsed: list[tuple[str, FacilityTelemetryTemplateSpec]] = []
    for name in sorted(templates):
        raw = templates[name]
        try:
            spec = raw if isinstance(raw, FacilityTelemetryTemplateSpec) else parse_spec(raw)
        except ValueError as exc:
            out.invalid[name] = str(exc)
            continue
        parsed.append((name, spec))
    ordered = [t for t in parsed if t[1].node_name] + [t for t in parsed if not t[1].node_name]
    for node in nodes:
        winner: tuple[str, FacilityTelemetryTemplateSpec] | None = None
        for name, spec in ordered:
            selects = (
                spec.node_name == node.name
                if spec.node_name
                else selector_matches(spec.node_selector or NodeSelector(), node.labels)
            )
            if not selects:
                continue
            if winner is None:
                winner = (name, spec)
            else:
                out.shadowed[name] += 1
        if winner is None:
            continue
        target = node_target(winner[0], winner[1], node, default)
        out.targets[node.name] = target
        out.matched[winner[0]] += 1
        if target.error:
            out.broken[winner[0]] += 1
    return out
