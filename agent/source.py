"""Where the desired state comes from: a YAML file (offline) or the cluster (:mod:`agent.kube`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from joulie.api.v1alpha1 import NPP_KIND, TP_KIND, NodePowerProfile, PowerProfile, PowerProfileSpec, TelemetryProfile
from joulie.validation import validation_details


@dataclass
class Desired:
    """The profile to enforce (``None``: there is none, restore), or why it is unusable."""

    profile: NodePowerProfile | None
    telemetry: TelemetryProfile | None = None
    invalid: str | None = None
    generation: int | None = None
    name: str | None = None  # NodePowerProfile object name, for status writes
    pods: list[dict[str, Any]] | None = None
    """Pods bound to this node (cluster mode only; ``None``: pod power profiles are off)."""
    power_profiles: dict[str, PowerProfileSpec | str] | None = None
    """PowerProfile name -> spec, or why it is invalid."""


class ProfileSource(Protocol):
    def current(self) -> Desired: ...

    def wait(self, timeout: float) -> None:
        """Sleep until ``timeout`` or until the desired state changes (or :meth:`stop`)."""

    def ready(self) -> tuple[bool, str]: ...

    def stop(self) -> None: ...


def validation_message(exc: ValidationError) -> str:
    return validation_details(exc, "object")


def parse_profile(obj: Any) -> Desired:
    """A NodePowerProfile from its API dict; invalid content becomes ``Desired.invalid``."""
    meta = (obj.get("metadata") or {}) if isinstance(obj, dict) else {}
    generation = meta.get("generation") if isinstance(meta.get("generation"), int) else None
    try:
        profile = NodePowerProfile.model_validate(obj)
    except ValidationError as exc:
        return Desired(
            profile=None,
            invalid=f"invalid NodePowerProfile: {validation_message(exc)}",
            generation=generation,
            name=meta.get("name"),
        )
    return Desired(profile=profile, generation=generation, name=meta.get("name"))


def parse_power_profiles(objs: list[dict[str, Any]]) -> dict[str, PowerProfileSpec | str]:
    """PowerProfile objects by name: the spec, or why the object does not validate."""
    out: dict[str, PowerProfileSpec | str] = {}
    for o in objs:
        name = (o.get("metadata") or {}).get("name") if isinstance(o, dict) else None
        if not isinstance(name, str) or not name:
            continue
        try:
            out[name] = PowerProfile.model_validate(o).spec
        except ValidationError as exc:
            out[name] = validation_message(exc)
    return out


class FileSource:
    """A NodePowerProfile (optionally followed by a TelemetryProfile) in a YAML file.

    The file is read on every pass, so an operator can edit it while the agent runs;
    a file that does not parse is reported and nothing is written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stop = threading.Event()

    def current(self) -> Desired:
        try:
            docs = [d for d in yaml.safe_load_all(self.path.read_text()) if d is not None]
        except OSError as exc:
            return Desired(profile=None, invalid=f"cannot read {self.path}: {exc.strerror or exc}")
        except yaml.YAMLError as exc:
            return Desired(profile=None, invalid=f"{self.path} is not valid YAML: {exc}")
        npp = [d for d in docs if isinstance(d, dict) and d.get("kind", NPP_KIND) == NPP_KIND]
        tps = [d for d in docs if isinstance(d, dict) and d.get("kind") == TP_KIND]
        if len(npp) != 1:
            return Desired(
                profile=None, invalid=f"{self.path} must hold exactly one NodePowerProfile, found {len(npp)}"
            )
        desired = parse_profile(npp[0])
        if tps:
            try:
                desired.telemetry = TelemetryProfile.model_validate(tps[0])
            except ValidationError as exc:
                desired.profile = None
                desired.invalid = f"invalid TelemetryProfile: {validation_message(exc)}"
        return desired

    def wait(self, timeout: float) -> None:
        self._stop.wait(timeout)

    def ready(self) -> tuple[bool, str]:
        return True, "file"

    def stop(self) -> None:
        self._stop.set()
