"""Compact, immutable views of Nodes and Pods: what the decisions need, nothing more.

The API server hands us whole objects (a pod is several KB of JSON). At 150k pods
keeping those around would cost gigabytes, so every object is reduced once, when it
arrives, to a slotted record holding only the fields the classifier, the policies,
the guard and the extender score read. Parsing tolerates missing or malformed
fields: a record with defaults is better than a crashed loop.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from joulie.api.labels import (
    DRAINING_LABEL,
    DRAINING_YES,
    ECO,
    PERFORMANCE,
    POWER_PROFILE_LABEL,
    RESERVED_LABEL,
    DemandClass,
    Profile,
)
from joulie.core.classify import classify_pod
from joulie.jsonutil import obj as _obj
from joulie.jsonutil import text as _text

log = logging.getLogger(__name__)

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})

_SUFFIX = {
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


@dataclass(frozen=True, slots=True)
class DemandSummary:
    """Active pods per demand class (pending pods included, finished or deleting ones not)."""

    performance: int = 0
    eco: int = 0
    general: int = 0
    performance_pending: int = 0

    @property
    def total(self) -> int:
        return self.performance + self.eco + self.general


_MAX_EXPONENT = 24
"""Largest decimal exponent of a quantity (with its suffix, up to 10**24 ~ 2**80: ample room for 2**63)."""


def parse_quantity(value: Any) -> Decimal:
    """Parse a Kubernetes resource quantity (``100m``, ``2``, ``1.5Gi``, ``1e3``).

    Raises ``ValueError`` for anything that is not a quantity.
    """
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a quantity: {value!r}")
    text = value.strip()
    for suffix in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"):
        if text.endswith(suffix):
            return _number(text[:-2], value) * _SUFFIX[suffix]
    if text[-1] in "mkMGTPE" and not text[:-1].lower().endswith("e"):
        return _number(text[:-1], value) * _SUFFIX[text[-1]]
    return _number(text, value)


def _number(text: str, original: str) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a quantity: {original!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a quantity: {original!r}")
    if number.adjusted() > _MAX_EXPONENT:
        # Kubernetes quantities fit in 63 bits; 1e999999999 would cost minutes of CPU to turn into an int
        raise ValueError(f"quantity out of range: {original[:40]!r}")
    return number


def cpu_millis(value: Any) -> int:
    """CPU quantity in millicores, rounded up as the scheduler does; 0 when unparsable."""
    try:
        return max(0, int((parse_quantity(value) * 1000).to_integral_value(rounding="ROUND_CEILING")))
    except ValueError:
        log.warning("ignoring unparsable cpu quantity %r", value)
        return 0


def whole_units(value: Any) -> int:
    try:
        return max(0, int(parse_quantity(value)))
    except ValueError:
        log.warning("ignoring unparsable quantity %r", value)
        return 0


def _str_map(value: Any, what: str = "") -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    out = {}
    for k, v in value.items():
        if isinstance(v, str):
            out[str(k)] = v
            continue
        # The API server only stores strings; a YAML snapshot may say `joulie.io/managed: true`.
        text = ("true" if v else "false") if isinstance(v, bool) else str(v)
        log.warning("%s: label %s has the non-string value %r; read as %r (quote it in YAML)", what, k, v, text)
        out[str(k)] = text
    return out


def _flag(value: Any, what: str) -> bool:
    """A boolean field; the string ``"false"`` (a hand-written snapshot) is false, with a warning."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    result = text in ("true", "1", "yes")
    log.warning("%s is %r, not a boolean; read as %s", what, value, str(result).lower())
    return result


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = ""


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value


@dataclass(frozen=True, slots=True)
class NodeRequirement:
    """One ``matchExpressions`` entry of a required node-affinity term."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SchedulingNeeds:
    """What a *pending* pod needs from a node, kept only while it waits (running pods do not carry it)."""

    requests: Mapping[str, int]
    """Effective requests by resource: ``cpu`` in millicores, everything else in base units (bytes, devices)."""
    node_selector: Mapping[str, str]
    required_terms: tuple[tuple[NodeRequirement, ...], ...]
    """Required node-affinity terms (ORed; each term's requirements ANDed); empty = any node."""
    tolerations: tuple[Toleration, ...]


def _taints(spec: Mapping[str, Any]) -> tuple[Taint, ...]:
    raw = spec.get("taints")
    out = []
    for t in raw if isinstance(raw, list) else ():
        t = _obj(t)
        key = _text(t.get("key"))
        if key:
            out.append(Taint(key, _text(t.get("value")), _text(t.get("effect"))))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node as Joulie sees it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    unschedulable: bool = False
    cpu_allocatable_millis: int = 0
    gpu_allocatable: int = 0
    memory_allocatable_bytes: int = 0
    allocatable: Mapping[str, int] = field(default_factory=dict)
    """Every allocatable resource (``cpu`` in millicores, the rest in base units)."""
    taints: tuple[Taint, ...] = ()

    @property
    def profile_label(self) -> Profile | None:
        value = self.labels.get(POWER_PROFILE_LABEL)
        return value if value in (PERFORMANCE, ECO) else None  # type: ignore[return-value]

    @property
    def draining_label(self) -> bool:
        return self.labels.get(DRAINING_LABEL) == DRAINING_YES

    @property
    def reserved(self) -> bool:
        return self.labels.get(RESERVED_LABEL) == "true"

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> NodeInfo:
        meta = _obj(obj.get("metadata"))
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("node without metadata.name")
        raw_allocatable = _obj(_obj(obj.get("status")).get("allocatable"))
        allocatable = {str(r): resource_amount(str(r), q) for r, q in raw_allocatable.items()}
        gpus = sum(allocatable.get(r, 0) for r in GPU_RESOURCES)
        spec = _obj(obj.get("spec"))
        return cls(
            name=sys.intern(name),
            labels=_str_map(meta.get("labels"), f"node {name}"),
            unschedulable=_flag(spec.get("unschedulable"), f"node {name}: spec.unschedulable"),
            cpu_allocatable_millis=allocatable.get("cpu", 0),
            gpu_allocatable=gpus,
            memory_allocatable_bytes=allocatable.get("memory", 0),
            allocatable=allocatable,
            taints=_taints(spec),
        )


@dataclass(frozen=True, slots=True)
class PodInfo:
    """A pod reduced to its demand class, placement and requests."""

    uid: str
    namespace: str
    name: str
    demand: DemandClass
    node_name: str | None = None
    phase: str = "Pending"
    deleting: bool = False
    cpu_request_millis: int = 0
    gpu_request: int = 0
    unschedulable: bool = False
    """The scheduler tried and found no node (PodScheduled=False, reason Unschedulable)."""
    memory_request_bytes: int = 0
    needs: SchedulingNeeds | None = None
    """Requests, selector, affinity and tolerations, kept only while the pod is pending."""
    created: float | None = None
    """``metadata.creationTimestamp`` in unix seconds: when the pod arrived (``None`` if absent)."""

    @property
    def active(self) -> bool:
        """Counts as demand: not being deleted and not finished (pending pods count)."""
        return not self.deleting and self.phase not in TERMINAL_PHASES

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> PodInfo:
        meta = _obj(obj.get("metadata"))
        spec = _obj(obj.get("spec"))
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("pod without metadata.name")
        namespace = _text(meta.get("namespace"), "default")
        uid = _text(meta.get("uid")) or f"{namespace}/{name}"
        node_name = _text(spec.get("nodeName")) or None
        requests = resource_requests(spec)
        cpu = requests.get("cpu", 0)
        gpu = sum(requests.get(r, 0) for r in GPU_RESOURCES)
        status = _obj(obj.get("status"))
        raw_conditions = status.get("conditions")
        conditions = raw_conditions if isinstance(raw_conditions, list) else []
        unschedulable = node_name is None and any(
            isinstance(c, dict)
            and c.get("type") == "PodScheduled"
            and c.get("status") == "False"
            and c.get("reason") == "Unschedulable"
            for c in conditions
        )
        return cls(
            uid=uid,
            namespace=sys.intern(namespace),
            name=name,
            demand=classify_pod(obj),
            node_name=sys.intern(node_name) if node_name else None,
            phase=str(status.get("phase") or "Pending"),
            deleting=bool(meta.get("deletionTimestamp")),
            cpu_request_millis=cpu,
            gpu_request=gpu,
            unschedulable=unschedulable,
            memory_request_bytes=requests.get("memory", 0),
            needs=scheduling_needs(spec, requests) if node_name is None else None,
            created=timestamp(meta.get("creationTimestamp")),
        )


def resource_amount(resource: str, quantity: Any) -> int:
    """A quantity in the unit Joulie counts it in: millicores for ``cpu``, base units otherwise (rounded up)."""
    try:
        value = parse_quantity(quantity) * (1000 if resource == "cpu" else 1)
        return max(0, int(value.to_integral_value(rounding="ROUND_CEILING")))
    except ValueError:
        log.warning("ignoring unparsable %s quantity %r", resource, quantity)
        return 0


def resource_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """Effective requests by resource, as the scheduler computes them: max(sum of containers, largest
    init container) + overhead; a container's limits stand in for requests it does not give."""

    def container(c: Any) -> dict[str, int]:
        resources = _obj(_obj(c).get("resources"))
        limits = _obj(resources.get("limits"))
        requests = {**limits, **_obj(resources.get("requests"))}
        for gpu in GPU_RESOURCES:  # extended resources are requested through limits
            if gpu in limits:
                requests[gpu] = limits[gpu]
        return {str(r): resource_amount(str(r), q) for r, q in requests.items()}

    def containers(key: str) -> list[dict[str, int]]:
        raw = spec.get(key)
        return [container(c) for c in raw] if isinstance(raw, list) else []

    total: dict[str, int] = {}
    for c in containers("containers"):
        for r, v in c.items():
            total[r] = total.get(r, 0) + v
    for c in containers("initContainers"):
        for r, v in c.items():
            total[r] = max(total.get(r, 0), v)
    for r, q in _obj(spec.get("overhead")).items():
        total[str(r)] = total.get(str(r), 0) + resource_amount(str(r), q)
    return {r: v for r, v in total.items() if v > 0}


def _requirements(term: Any) -> tuple[NodeRequirement, ...]:
    out = []
    for expr in _obj(term).get("matchExpressions") or ():
        expr = _obj(expr)
        values = expr.get("values")
        out.append(
            NodeRequirement(
                _text(expr.get("key")),
                _text(expr.get("operator")),
                tuple(str(v) for v in values) if isinstance(values, list) else (),
            )
        )
    return tuple(out)


def scheduling_needs(spec: Mapping[str, Any], requests: Mapping[str, int]) -> SchedulingNeeds:
    affinity = _obj(_obj(spec.get("affinity")).get("nodeAffinity"))
    required = _obj(affinity.get("requiredDuringSchedulingIgnoredDuringExecution"))
    terms = required.get("nodeSelectorTerms")
    tolerations = []
    for t in spec.get("tolerations") or () if isinstance(spec.get("tolerations"), list) else ():
        t = _obj(t)
        tolerations.append(
            Toleration(
                _text(t.get("key")), _text(t.get("operator"), "Equal"), _text(t.get("value")), _text(t.get("effect"))
            )
        )
    return SchedulingNeeds(
        requests=dict(requests),
        node_selector=_str_map(spec.get("nodeSelector")),
        required_terms=tuple(_requirements(t) for t in terms) if isinstance(terms, list) else (),
        tolerations=tuple(tolerations),
    )


def timestamp(value: Any) -> float | None:
    """Unix seconds of an RFC 3339 timestamp such as ``2026-01-01T09:00:00Z``; ``None`` when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def pod_requests(spec: Mapping[str, Any]) -> tuple[int, int]:
    """Effective (cpu millis, gpus) request (see :func:`resource_requests`)."""
    requests = resource_requests(spec)
    return requests.get("cpu", 0), sum(requests.get(r, 0) for r in GPU_RESOURCES)
