"""config/rbac and config/manager: the plain manifests for users without Helm."""

from __future__ import annotations

import kubernetes_validate
import yaml

from tests.install.chart import NAMESPACE, ROOT
from tests.install.manifests import generate


def test_plain_manifests_match_the_chart():
    stale = [rel for rel, text in generate().items() if not (ROOT / rel).exists() or (ROOT / rel).read_text() != text]
    assert not stale, f"regenerate with `python -m tests.install.manifests --write`: {stale}"


def test_kustomizations_list_exactly_the_files_beside_them():
    for directory in ("config/rbac", "config/manager"):
        d = ROOT / directory
        k = yaml.safe_load((d / "kustomization.yaml").read_text())
        files = {r for r in k["resources"] if not r.startswith("..")}
        on_disk = {p.name for p in d.glob("*.yaml")} - {"kustomization.yaml"}
        assert files == on_disk, directory
        for r in k["resources"]:
            assert (d / r).exists(), f"{directory}: {r} does not exist"


def test_plain_manifests_are_valid_and_carry_no_helm_labels():
    kinds = set()
    for path in sorted((ROOT / "config").glob("*/*.yaml")):
        if path.parent.name not in ("rbac", "manager") or path.name == "kustomization.yaml":
            continue
        for obj in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(obj, "1.33", strict=True)
            kinds.add(obj["kind"])
            labels = obj["metadata"].get("labels", {})
            assert "helm.sh/chart" not in labels and labels.get("app.kubernetes.io/managed-by") != "Helm"
            if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
                assert obj["metadata"]["namespace"] == NAMESPACE
    assert {"Namespace", "Deployment", "DaemonSet", "ClusterRole", "Role", "ConfigMap"} <= kinds


def test_namespace_allows_the_agents_host_paths():
    ns = yaml.safe_load((ROOT / "config/manager/namespace.yaml").read_text())
    assert ns["metadata"]["name"] == NAMESPACE
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
