"""Per-profile CPU control templates: what the labeller writes into each NodePowerProfile beyond the cap.

A node gets the template of the profile it runs in (a draining node keeps the performance
one while it keeps the performance caps, see ``PlannerConfig.draining_caps``). Templates have
the API's shape (``spec.cpu.governor``, ``epp``, ``frequency``, ``cstates``, ``uncore``) and come
from flags or env vars:

- ``--eco-cpu-controls JSON`` / ``JOULIE_ECO_CPU_CONTROLS``: the whole template (the chart's
  ``profiles.eco.cpu`` rendered as JSON); ``{}`` clears the default;
- ``--eco-governor``, ``--eco-epp``, ``--eco-max-freq-pct``, ``--eco-cstates C6=true,...``,
  ``--eco-cstate-max-latency-us``, ``--eco-uncore-max-pct``: one field each, on top of it
  (``none`` clears a field); the same with ``--performance-``.

Defaults (see docs/agent.md, "Default templates"): performance sets nothing beyond the cap;
eco sets only what is safe on every machine the agent supports: ``epp: balance_power`` (a
hint, applied where EPP exists, reported unsupported elsewhere, skipped under the node's own
performance governor) and ``uncore.minPct: 0`` (lets an uncore pinned high scale down again
when idle; a no-op where it already scales).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from joulie.api.labels import ECO, PERFORMANCE
from joulie.api.v1alpha1 import CpuCap, CStates, Epp, FrequencyRange
from joulie.cliutil import ConfigError, env
from joulie.core.guard import NodeState
from joulie.core.plan import NodeDecision
from joulie.validation import validation_details


class CpuControls(BaseModel):
    """The controls beyond the cap for one profile, in the API's shape; unset fields leave the node as it is."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    governor: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,15}$")
    epp: Epp | None = None
    frequency: FrequencyRange | None = None
    cstates: CStates | None = None
    uncore: FrequencyRange | None = None

    @field_validator("epp", mode="before")
    @classmethod
    def _epp_number(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.isdigit() else value

    @model_validator(mode="after")
    def _as_the_api_validates(self) -> CpuControls:
        CpuCap.model_validate(self.to_api())  # one set of rules: the CRD model's
        return self

    def to_api(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def __hash__(self) -> int:  # CStates holds a dict: hash the canonical wire form
        return hash(json.dumps(self.to_api(), sort_keys=True))

    @property
    def empty(self) -> bool:
        return not self.to_api()

    def describe(self) -> str:
        """Short, for ``joulie plan``: ``epp=balance_power uncore=0- %``; ``-`` when nothing is set."""
        parts = []
        for name in ("governor", "epp", "frequency", "cstates", "uncore"):
            value = getattr(self, name)
            if value is not None:
                shown = value.describe() if isinstance(value, FrequencyRange | CStates) else str(value)
                parts.append(f"{name}={shown}")
        return " ".join(parts) or "-"


NO_CONTROLS: Final = CpuControls()
DEFAULT_PERFORMANCE_CONTROLS: Final = NO_CONTROLS
DEFAULT_ECO_CONTROLS: Final = CpuControls(epp="balance_power", uncore=FrequencyRange(min_pct=0))


class ControlTemplates(BaseModel):
    """The template of each profile (``PlannerConfig.cpu_controls``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    performance: CpuControls = DEFAULT_PERFORMANCE_CONTROLS
    eco: CpuControls = DEFAULT_ECO_CONTROLS

    def for_state(self, state: NodeState, draining_caps: Literal["performance", "eco"]) -> CpuControls:
        """A draining node keeps the performance template exactly as long as it keeps the performance caps."""
        if state is NodeState.ACTIVE_PERFORMANCE:
            return self.performance
        if state is NodeState.DRAINING_PERFORMANCE and draining_caps == PERFORMANCE:
            return self.performance
        return self.eco


@dataclass(frozen=True, slots=True)
class ControlledDecision(NodeDecision):
    """A node's decision with the CPU controls it gets, so the diff, ``joulie plan`` and ``/plan`` see them."""

    controls: CpuControls = NO_CONTROLS

    def to_json(self) -> dict[str, Any]:
        out = NodeDecision.to_json(self)  # zero-argument super() does not work in slotted dataclasses
        out["controls"] = self.controls.to_api()
        return out


def decision_controls(decision: NodeDecision) -> CpuControls:
    """The controls a decision carries (plain :class:`NodeDecision` objects carry none)."""
    controls = getattr(decision, "controls", None)
    return controls if isinstance(controls, CpuControls) else NO_CONTROLS


# ---------------------------------------------------------------- flags


def _env_name(profile: str, flag: str) -> str:
    return f"JOULIE_{profile.upper()}_{flag.upper().replace('-', '_')}"


def add_control_flags(g: argparse._ActionsContainer) -> None:
    """``--{eco,performance}-{governor,epp,...}``; :func:`control_templates` reads them back."""
    for profile in (PERFORMANCE, ECO):
        what = f"{profile} nodes"

        def add(flag: str, help_text: str, metavar: str | None = None, profile: str = profile) -> None:
            g.add_argument(
                f"--{profile}-{flag}",
                default=env(_env_name(profile, flag), None),
                metavar=metavar,
                help=f"{help_text} (env {_env_name(profile, flag)}; 'none' clears it)",
            )

        add(
            "cpu-controls", f'every control of {what} as JSON in spec.cpu\'s shape, e.g. \'{{"epp": "power"}}\'', "JSON"
        )
        add("governor", f"cpufreq governor of {what}")
        add("epp", f"energy-performance preference of {what}: a name or 0-255")
        add("max-freq-pct", f"maximum CPU frequency of {what}, %% of the cpuinfo range", "PCT")
        add("cstates", f"C-states of {what} to enable or disable, e.g. C6=true,C1E=false", "NAME=BOOL,...")
        add("cstate-max-latency-us", f"disable the C-states of {what} with exit latency above this", "US")
        add("uncore-max-pct", f"maximum uncore frequency of {what}, %% of the initial range", "PCT")


def _cleared(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("", "none", "null")


def _number(flag: str, text: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a number") from None


def _cstate_names(flag: str, text: str) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or value.strip().lower() not in ("true", "false", "on", "off", "1", "0"):
            raise ConfigError(f"{flag}: {item!r} is not NAME=true|false")
        out[name.strip()] = value.strip().lower() in ("true", "on", "1")
    return out


def _template(args: argparse.Namespace, profile: str, default: CpuControls) -> CpuControls:
    def arg(flag: str) -> str | None:
        value = getattr(args, f"{profile}_{flag.replace('-', '_')}", None)
        return value if isinstance(value, str) else None

    base_json = arg("cpu-controls")
    if base_json is not None and not _cleared(base_json):
        try:
            wire: dict[str, Any] = json.loads(base_json)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--{profile}-cpu-controls is not JSON: {exc}") from None
        if not isinstance(wire, dict):
            raise ConfigError(f"--{profile}-cpu-controls must be a JSON object in spec.cpu's shape")
    elif base_json is not None:
        wire = {}
    else:
        wire = default.to_api()

    def put(key: str, value: Any) -> None:
        if value is None:
            wire.pop(key, None)
        else:
            wire[key] = value

    def put_in(key: str, sub: str, value: Any, keep_suffix: str) -> None:
        section = {k: v for k, v in (wire.get(key) or {}).items() if k.endswith(keep_suffix) and k != sub}
        if value is not None:
            section[sub] = value
        put(key, section or None)

    for flag, key in (("governor", "governor"), ("epp", "epp")):
        text = arg(flag)
        if text is not None:
            put(key, None if _cleared(text) else text.strip())
    text = arg("max-freq-pct")
    if text is not None:
        put_in(
            "frequency", "maxPct", None if _cleared(text) else _number(f"--{profile}-max-freq-pct", text, float), "Pct"
        )
    text = arg("uncore-max-pct")
    if text is not None:
        put_in(
            "uncore", "maxPct", None if _cleared(text) else _number(f"--{profile}-uncore-max-pct", text, float), "Pct"
        )
    text = arg("cstates")
    if text is not None:
        names = None if _cleared(text) else _cstate_names(f"--{profile}-cstates", text)
        put_in("cstates", "names", names, "Us")
    text = arg("cstate-max-latency-us")
    if text is not None:
        latency = None if _cleared(text) else _number(f"--{profile}-cstate-max-latency-us", text, int)
        put_in("cstates", "maxLatencyUs", latency, "names")
    try:
        return CpuControls.model_validate(wire)
    except ValidationError as exc:
        raise ConfigError(f"invalid {profile} CPU controls: {validation_details(exc)}") from None


def control_templates(args: argparse.Namespace) -> ControlTemplates:
    """The templates from the :func:`add_control_flags` flags (defaults where none is given)."""
    return ControlTemplates(
        performance=_template(args, PERFORMANCE, DEFAULT_PERFORMANCE_CONTROLS),
        eco=_template(args, ECO, DEFAULT_ECO_CONTROLS),
    )


__all__ = [
    "DEFAULT_ECO_CONTROLS",
    "DEFAULT_PERFORMANCE_CONTROLS",
    "NO_CONTROLS",
    "ControlTemplates",
    "ControlledDecision",
    "CpuControls",
    "add_control_flags",
    "control_templates",
    "decision_controls",
]
