"""Pods, PowerProfiles and kubelet allocations for the pod power profile tests (realistic shapes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from joulie.api.v1alpha1 import PowerProfile, PowerProfileSpec

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "config" / "samples"
PROFILE_NAMES = ("performance", "balance-performance", "balance-power", "power")


def sample_profiles() -> dict[str, PowerProfileSpec | str]:
    out: dict[str, PowerProfileSpec | str] = {}
    for name in PROFILE_NAMES:
        obj = PowerProfile.model_validate(yaml.safe_load((SAMPLES / f"powerprofile-{name}.yaml").read_text()))
        out[obj.name] = obj.spec
    return out


def sample_profile_objects() -> list[dict[str, Any]]:
    return [yaml.safe_load((SAMPLES / f"powerprofile-{n}.yaml").read_text()) for n in PROFILE_NAMES]


def container(name: str, cpu: str, memory: str = "1Gi", **extended: int) -> dict[str, Any]:
    res: dict[str, Any] = {"cpu": cpu, "memory": memory}
    res.update({f"power.joulie.io/{k.replace('_', '-')}": str(v) for k, v in extended.items()})
    return {"name": name, "image": "registry.k8s.io/pause:3.10", "resources": {"requests": res, "limits": dict(res)}}


def pod(
    name: str,
    namespace: str,
    *containers: dict[str, Any],
    qos: str = "Guaranteed",
    node: str = "n1",
    uid: str | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{namespace}-{name}"},
        "spec": {"nodeName": node, "containers": list(containers)},
        "status": {"phase": phase, "qosClass": qos},
    }


def db_pod(performance: int = 4) -> dict[str, Any]:
    """A database: postgres on 4 exclusive CPUs under "performance", a metrics sidecar in the shared pool."""
    return pod("db", "prod", container("postgres", "4", performance=performance), container("metrics", "500m", "128Mi"))


def batch_pod() -> dict[str, Any]:
    return pod("worker", "batch", container("worker", "2", balance_power=2))


def web_pod() -> dict[str, Any]:
    """A Burstable pod: the shared pool, no profile."""
    p = pod("web", "default", {"name": "nginx", "image": "nginx", "resources": {"requests": {"cpu": "250m"}}})
    p["status"]["qosClass"] = "Burstable"
    return p
