"""Plain manifests under config/rbac and config/manager, generated from the Helm chart.

Users without Helm apply these files; generating them from the chart (default values,
release ``joulie`` in namespace ``joulie-system``) keeps them identical to what the chart
installs, and tests/install/test_plain_manifests.py fails when they drift.

Regenerate after changing the chart::

    python -m tests.install.manifests --write
"""

from __future__ import annotations

import argparse
import copy
import sys
from typing import Any

import yaml

from tests.install.chart import NAMESPACE, ROOT, render

HEADER = (
    "# Generated from charts/joulie (default values, namespace {ns}) by\n"
    "# `python -m tests.install.manifests --write`. Do not edit: change the chart and regenerate.\n"
)

# Which rendered object goes to which file; order inside a file follows this list.
LAYOUT: dict[str, list[tuple[str, str]]] = {
    "config/rbac/labeller.yaml": [
        ("ServiceAccount", "joulie"),
        ("ClusterRole", "joulie-labeller"),
        ("ClusterRoleBinding", "joulie-labeller"),
        ("Role", "joulie-leader-election"),
        ("RoleBinding", "joulie-leader-election"),
    ],
    "config/rbac/agent.yaml": [
        ("ServiceAccount", "joulie-agent"),
        ("ClusterRole", "joulie-agent"),
        ("ClusterRoleBinding", "joulie-agent"),
    ],
    "config/rbac/scheduler.yaml": [
        ("ServiceAccount", "joulie-scheduler"),
        ("ClusterRoleBinding", "joulie-scheduler-kube-scheduler"),
        ("ClusterRoleBinding", "joulie-scheduler-volume-scheduler"),
        ("Role", "joulie-scheduler-leader-election"),
        ("RoleBinding", "joulie-scheduler-leader-election"),
    ],
    "config/manager/serve.yaml": [
        ("Deployment", "joulie"),
        ("Service", "joulie"),
        ("PodDisruptionBudget", "joulie"),
    ],
    "config/manager/agent.yaml": [
        ("DaemonSet", "joulie-agent"),
        ("Service", "joulie-agent-metrics"),
    ],
    "config/manager/scheduler.yaml": [
        ("ConfigMap", "joulie-scheduler-config"),
        ("Deployment", "joulie-scheduler"),
    ],
}

# The agent mounts host paths, which Pod Security "baseline" forbids: the namespace must
# enforce "privileged" (serve and the scheduler still run with restricted-level settings).
NAMESPACE_OBJECT: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {
        "name": NAMESPACE,
        "labels": {
            "app.kubernetes.io/part-of": "joulie",
            "pod-security.kubernetes.io/enforce": "privileged",
            "pod-security.kubernetes.io/warn": "privileged",
        },
    },
}

KUSTOMIZATIONS: dict[str, dict[str, Any]] = {
    "config/rbac/kustomization.yaml": {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["labeller.yaml", "agent.yaml", "scheduler.yaml"],
    },
    "config/manager/kustomization.yaml": {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["namespace.yaml", "../rbac", "serve.yaml", "agent.yaml", "scheduler.yaml"],
        # `kustomize edit set image joulie=REGISTRY/joulie:TAG` points the workloads at your image.
        "images": [{"name": "joulie", "newTag": None}],
    },
}

HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop the labels that only make sense for a Helm release."""
    out = copy.deepcopy(obj)
    for meta in (out.get("metadata", {}), out.get("spec", {}).get("template", {}).get("metadata", {})):
        labels = meta.get("labels")
        if labels:
            for key in HELM_ONLY_LABELS:
                labels.pop(key, None)
    return out


def _dump(objects: list[dict[str, Any]]) -> str:
    body = "---\n".join(yaml.safe_dump(o, sort_keys=False, width=100) for o in objects)
    return HEADER.format(ns=NAMESPACE) + body


def generate() -> dict[str, str]:
    """Path (relative to the repository) -> file content."""
    rendered = render()
    app_version = next(o for o in rendered.objects if o["kind"] == "Deployment")["metadata"]["labels"][
        "app.kubernetes.io/version"
    ]
    files: dict[str, str] = {"config/manager/namespace.yaml": _dump([NAMESPACE_OBJECT])}
    placed: set[tuple[str, str]] = set()
    for path, wanted in LAYOUT.items():
        files[path] = _dump([_plain(rendered.get(kind, name)) for kind, name in wanted])
        placed.update(wanted)
    unplaced = sorted((o["kind"], o["metadata"]["name"]) for o in rendered.objects)
    missing = [key for key in unplaced if key not in placed]
    if missing:
        raise RuntimeError(f"chart objects with no place in config/: {missing}; extend LAYOUT")
    for path, kustomization in KUSTOMIZATIONS.items():
        k = copy.deepcopy(kustomization)
        for image in k.get("images", []):
            image["newTag"] = app_version
        files[path] = HEADER.format(ns=NAMESPACE) + yaml.safe_dump(k, sort_keys=False)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the files (default: list stale ones)")
    args = parser.parse_args(argv)
    stale = 0
    for rel, text in generate().items():
        path = ROOT / rel
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale += 1
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {rel}")
        else:
            print(f"stale {rel}")
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
