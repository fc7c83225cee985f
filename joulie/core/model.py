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


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node as Joulie sees it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    unschedulable: bool = False
    cpu_allocatable_millis: int = 0
    gpu_allocatable: int = 0

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
        allocatable = _obj(_obj(obj.get("status")).get("allocatable"))
        gpus = sum(whole_units(allocatable[r]) for r in GPU_RESOURCES if r in allocatable)
        return cls(
            name=sys.intern(name),
            labels=_str_map(meta.get("labels")),
            unschedulable=bool(_obj(obj.get("spec")).get("unschedulable", False)),
            cpu_allocatable_millis=cpu_millis(allocatable["cpu"]) if "cpu" in allocatable else 0,
            gpu_allocatable=gpus,
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
        cpu, gpu = pod_requests(spec)
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
            created=timestamp(meta.get("creationTimestamp")),
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
    """Effective (cpu millis, gpus) request: max(sum of containers, largest init container) + overhead."""

    def container_requests(containers: Any) -> list[tuple[int, int]]:
        out = []
        for c in containers if isinstance(containers, list) else []:
            resources = _obj(_obj(c).get("resources"))
            requests = _obj(resources.get("requests")) or _obj(resources.get("limits"))
            limits = _obj(resources.get("limits"))
            cpu = cpu_millis(requests["cpu"]) if "cpu" in requests else 0
            gpu = sum(whole_units(limits.get(r, requests.get(r, 0))) for r in GPU_RESOURCES)
            out.append((cpu, gpu))
        return out

    main = container_requests(spec.get("containers"))
    init = container_requests(spec.get("initContainers"))
    cpu = max(sum(c for c, _ in main), max((c for c, _ in init), default=0))
    gpu = max(sum(g for _, g in main), max((g for _, g in init), default=0))
    overhead = _obj(spec.get("overhead"))
    if "cpu" in overhead:
        cpu += cpu_millis(overhead["cpu"])
    return cpu, gpu
