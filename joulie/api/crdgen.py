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

from joulie.api.v1alpha1 import CRDS, GROUP, VERSION, CrdSpec

_DROP_KEYS = {"title", "$defs"}
_PRESERVE = "x-kubernetes-preserve-unknown-fields"


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
        if key == "additionalProperties" and (value is False or (value is True and node.get(_PRESERVE))):
            continue  # v1 CRDs refuse `true`: x-kubernetes-preserve-unknown-fields says it
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


def crd(spec: CrdSpec) -> dict[str, Any]:
    """The CustomResourceDefinition of one resource: structural schema, status subresource, columns."""
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": model_schema(spec.spec_model),
    }
    if spec.status_model is not None:
        properties["status"] = model_schema(spec.status_model)
    schema: dict[str, Any] = {
        "type": "object",
        "description": spec.description,
        "required": ["spec"],
        "properties": properties,
    }
    if spec.validations:
        schema["x-kubernetes-validations"] = [dict(v) for v in spec.validations]
    version: dict[str, Any] = {"name": VERSION, "served": True, "storage": True}
    if spec.status_model is not None:
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = [c.to_crd() for c in spec.columns]
    version["schema"] = {"openAPIV3Schema": schema}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{spec.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": spec.kind,
                "listKind": f"{spec.kind}List",
                "plural": spec.plural,
                "singular": spec.kind.lower(),
                "shortNames": list(spec.short_names),
                "categories": ["joulie"],
            },
            "scope": spec.scope,
            "versions": [version],
        },
    }


CRD_FILES = {spec.filename: spec for spec in CRDS}


def render(crd_object: dict[str, Any]) -> str:
    return "---\n" + yaml.safe_dump(crd_object, sort_keys=False, width=100)


def write_crds(directory: Path) -> list[Path]:
    """Write every CRD into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, spec in CRD_FILES.items():
        path = directory / filename
        path.write_text(render(crd(spec)))
        written.append(path)
    return written
