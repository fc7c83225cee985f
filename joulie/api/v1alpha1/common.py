"""What every ``joulie.io/v1alpha1`` resource shares: group/version, the model base, Conditions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from joulie.api.labels import DOMAIN

GROUP: Final = DOMAIN
VERSION: Final = "v1alpha1"
API_VERSION: Final = "joulie.io/v1alpha1"
assert f"{GROUP}/{VERSION}" == API_VERSION


class ApiModel(BaseModel):
    """Base for API models: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_api(self) -> dict[str, Any]:
        """The JSON-ready dict the API server expects (aliases, no unset optionals)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class SpecModel(ApiModel):
    """Spec models refuse unknown fields, so a typo in a hand-written profile is an error."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# ---------------------------------------------------------------- conditions


class Condition(ApiModel):
    """A ``metav1.Condition``: the Kubernetes convention for reporting state."""

    type: str = Field(min_length=1, max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(default=None, ge=0)


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None = None,
    now: datetime | None = None,
) -> list[Condition]:
    """Return ``conditions`` with ``type_`` set; the transition time moves only when status changes."""
    now = now or datetime.now(UTC)
    status_str: Literal["True", "False"] = "True" if status else "False"
    out: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.type != type_:
            out.append(cond)
            continue
        found = True
        changed = cond.status != status_str
        out.append(
            Condition(
                type=type_,
                status=status_str,
                reason=reason,
                message=message,
                last_transition_time=now if changed else cond.last_transition_time,
                observed_generation=generation,
            )
        )
    if not found:
        out.append(
            Condition(
                type=type_,
                status=status_str,
                reason=reason,
                message=message,
                last_transition_time=now,
                observed_generation=generation,
            )
        )
    return out


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    description: str | None = None
    priority: int | None = None

    def to_crd(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.priority is not None:
            out["priority"] = self.priority
        out["jsonPath"] = self.json_path
        if self.description is not None:
            out["description"] = self.description
        return out


def condition_column(name: str, cond_type: str) -> PrinterColumn:
    return PrinterColumn(name, "string", f'.status.conditions[?(@.type=="{cond_type}")].status')


AGE_COLUMN = PrinterColumn("Age", "date", ".metadata.creationTimestamp")


@dataclass(frozen=True)
class CrdSpec:
    """What ``joulie crds`` needs to generate one CustomResourceDefinition (see :mod:`joulie.api.crdgen`)."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec_model: type[BaseModel]
    status_model: type[BaseModel] | None
    """``None``: a configuration object with no status subresource (like a StorageClass)."""
    columns: tuple[PrinterColumn, ...]
    description: str
    scope: Literal["Cluster", "Namespaced"] = "Cluster"
    validations: tuple[dict[str, str], ...] = ()
    """CEL rules on the whole object (``x-kubernetes-validations`` at the root), e.g. on ``metadata.name``."""

    @property
    def filename(self) -> str:
        return f"{GROUP}_{self.plural}.yaml"
