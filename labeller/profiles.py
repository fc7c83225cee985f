"""The NodePowerProfiles the labeller last saw on the API server (fed by a watch, or a snapshot)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from joulie import jsonutil
from joulie.api.v1alpha1 import PowerReading
from joulie.core.plan import FeedbackHold
from labeller.cache import NamedCache
from labeller.desired import SINCE_ANNOTATION, parse_hold, parse_time


@dataclass(frozen=True, slots=True)
class ObservedProfile:
    """A NodePowerProfile as last seen on the API server."""

    name: str
    node_name: str | None
    spec: Mapping[str, Any] | None
    annotations: Mapping[str, str]
    since: float | None = None
    """When the node entered its current profile (the profile-since annotation)."""
    hold: FeedbackHold | None = None
    """The feedback promotion recorded on it, if any."""
    power: PowerReading | None = None
    """What the node's agent last measured (``status.power``), for the power budgets."""

    @property
    def cpu_cap_watts(self) -> float | None:
        """The package cap the spec asks for now (the last safe cap, for a budget that cannot plan)."""
        value = jsonutil.obj(jsonutil.obj(self.spec).get("cpu")).get("packagePowerCapWatts")
        return float(value) if isinstance(value, int | float) else None

    @property
    def gpu_cap_watts(self) -> float | None:
        gpu = jsonutil.obj(jsonutil.obj(jsonutil.obj(self.spec).get("gpu")).get("powerCap"))
        value = gpu.get("capWattsPerGpu")
        return float(value) if isinstance(value, int | float) else None

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> ObservedProfile:
        meta = jsonutil.obj(obj.get("metadata"))
        raw_spec = obj.get("spec")
        spec = raw_spec if isinstance(raw_spec, dict) else None
        raw = jsonutil.obj(meta.get("annotations"))
        annotations = {str(k): str(v) for k, v in raw.items()}
        node_name = spec.get("nodeName") if spec else None
        return cls(
            name=str(meta.get("name", "")),
            node_name=node_name if isinstance(node_name, str) else None,
            spec=spec,
            annotations=annotations,
            since=parse_time(annotations.get(SINCE_ANNOTATION)),
            hold=parse_hold(annotations),
            power=_power(obj.get("status")),
        )


def _power(status: Any) -> PowerReading | None:
    raw = jsonutil.obj(status).get("power")
    if not isinstance(raw, dict):
        return None
    try:
        return PowerReading.model_validate(raw)
    except ValidationError:
        return None  # a reading the budgets cannot trust counts as no reading (stale)


class ProfileCache(NamedCache[ObservedProfile]):
    """Observed NodePowerProfiles, keyed by object name; thread-safe."""

    def __init__(self) -> None:
        super().__init__(ObservedProfile.from_api)
