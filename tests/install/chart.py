"""Render charts/joulie offline with the real Helm engine (helm-python-sdk) for the tests.

Rendering goes through Helm's own template engine and values-schema validation, so what
the tests see is what `helm install` would send to the API server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import helm_python
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "charts" / "joulie"
RELEASE = "joulie"
NAMESPACE = "joulie-system"


@dataclass
class Rendered:
    """One `helm template`: the manifests by template path, parsed objects and NOTES.txt."""

    files: dict[str, str]
    objects: list[dict[str, Any]] = field(default_factory=list)
    notes: str = ""

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        if len(found) != 1:
            names = sorted(o["metadata"]["name"] for o in self.of_kind(kind))
            raise KeyError(f"{kind}/{name} rendered {len(found)} times; {kind} objects: {names}")
        return found[0]

    def has(self, kind: str, name: str) -> bool:
        return any(o["metadata"]["name"] == name for o in self.of_kind(kind))


def _freeze(values: dict[str, Any] | None) -> str:
    return yaml.safe_dump(values or {}, sort_keys=True)


@lru_cache(maxsize=32)
def _render_cached(frozen: str, name: str, namespace: str) -> Rendered:
    values = yaml.safe_load(frozen) or {}
    with helm_python.Chart.load(CHART_DIR) as chart:
        files = chart.render(values, name=name, namespace=namespace, is_install=True)
    rendered = Rendered(files=files)
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            rendered.notes = text
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("metadata", {})
                rendered.objects.append(doc)
    return rendered


def render(values: dict[str, Any] | None = None, *, name: str = RELEASE, namespace: str = NAMESPACE) -> Rendered:
    """Render the chart as `helm template NAME charts/joulie -n NAMESPACE -f values`."""
    return _render_cached(_freeze(values), name, namespace)


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    for c in workload["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise KeyError(f"no container {name!r} in {workload['kind']}/{workload['metadata']['name']}")


def arg_value(args: list[str], flag: str) -> str | None:
    """The value of ``--flag=value`` in a container's args (None when absent)."""
    prefix = flag + "="
    values = [a[len(prefix) :] for a in args if a.startswith(prefix)]
    if len(values) > 1:
        raise AssertionError(f"{flag} given {len(values)} times: {values}")
    return values[0] if values else None
