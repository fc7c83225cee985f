"""Generate the CustomResourceDefinitions from the pydantic models.

Pydantic emits JSON Schema (2020-12 flavour, with ``$ref`` and ``anyOf`` for
optionals); the API server wants a *structural* OpenAPI v3 schema: every node
typed, no references, no ``additionalProperties`` beside ``properties``. This
module does that translation, so the YAML under ``config/crd/bases`` is derived,
never edited by hand.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from joulie.api.v1alpha1 import (
    GROUP,
    NPP_KIND,
    NPP_PLURAL,
    TP_KIND,
    TP_PLURAL,
    VERSION,
    NodePowerProfileSpec,
    NodePowerProfileStatus,
    TelemetryProfileSpec,
    TelemetryProfileStatus,
)

_DROP_KEYS = {"title", "$defs"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Inline refs, collapse ``Optional`` and strip what structural schemas forbid."""
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            return _structural({**options[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "default" and value is None:
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema 2020-12 gives the bound; OpenAPI v3.0 (CRDs) wants the bound in
            # minimum/maximum and a boolean flag, else the API server rejects the CRD.
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
            continue
        if key == "properties":
            out[key] = {name: _structural(v, defs) for name, v in value.items()}
            continue
        out[key] = _structural(value, defs)
    if "properties" in out:
        out.setdefault("type", "object")
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Structural OpenAPI v3 schema of a pydantic model, keyed by its wire (camelCase) names."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}))


def _crd(
    kind: str,
    plural: str,
    short_names: list[str],
    spec_model: type[BaseModel],
    status_model: type[BaseModel],
    columns: list[dict[str, Any]],
    description: str,
) -> dict[str, Any]:
    schema = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": model_schema(spec_model),
            "status": model_schema(status_model),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["joulie"],
            },
            "scope": "Cluster",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _condition_column(name: str, cond_type: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{cond_type}")].status',
    }


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def node_power_profile_crd() -> dict[str, Any]:
    return _crd(
        NPP_KIND,
        NPP_PLURAL,
        ["npp"],
        NodePowerProfileSpec,
        NodePowerProfileStatus,
        [
            {"name": "Node", "type": "string", "jsonPath": ".spec.nodeName"},
            {"name": "Profile", "type": "string", "jsonPath": ".spec.profile"},
            {
                "name": "Cap",
                "type": "number",
                "jsonPath": ".spec.cpu.packagePowerCapWatts",
                "description": "Desired CPU package cap in watts",
            },
            {"name": "Draining", "type": "boolean", "jsonPath": ".spec.draining"},
            _condition_column("Applied", "Applied"),
            {"name": "Applied-Cap", "type": "number", "priority": 1, "jsonPath": ".status.cpu.packagePowerCapWatts"},
            _AGE,
        ],
        "Desired power profile of one node: written by the labeller, enforced by the agent.",
    )


def telemetry_profile_crd() -> dict[str, Any]:
    return _crd(
        TP_KIND,
        TP_PLURAL,
        ["tp"],
        TelemetryProfileSpec,
        TelemetryProfileStatus,
        [
            {"name": "Node", "type": "string", "jsonPath": ".spec.target.nodeName"},
            {"name": "Scope", "type": "string", "jsonPath": ".spec.target.scope"},
            {"name": "CPU-Control", "type": "string", "jsonPath": ".spec.controls.cpu.type"},
            {"name": "State", "type": "string", "jsonPath": ".status.control.cpu.result"},
            {"name": "Applied", "type": "date", "jsonPath": ".status.control.cpu.updatedAt"},
            _AGE,
        ],
        "How an agent reads telemetry and routes power controls for its node.",
    )


CRD_FILES = {
    "joulie.io_nodepowerprofiles.yaml": node_power_profile_crd,
    "joulie.io_telemetryprofiles.yaml": telemetry_profile_crd,
}


def render(crd: dict[str, Any]) -> str:
    return "---\n" + yaml.safe_dump(crd, sort_keys=False, width=100)


def write_crds(directory: Path) -> list[Path]:
    """Write every CRD into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, build in CRD_FILES.items():
        path = directory / filename
        path.write_text(render(build()))
        written.append(path)
    return written
