from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.backends.nvml import Nvml
from agent.engine import Engine, EngineConfig
from agent.plan import Limits
from agent.state import OriginalsStore
from agent.sysfs import Sysfs
from joulie.api.v1alpha1 import NodePowerProfile
from tests.agent.hw import FakePynvml


@pytest.fixture
def sysroot(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    root.mkdir()
    return root


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def make_engine(
    root: Path,
    state_dir: Path,
    nvml: Any = None,
    node: str = "n1",
    reserved_cpus: frozenset[int] = frozenset(),
    **limits: Any,
) -> Engine:
    return Engine(
        Sysfs(root),
        OriginalsStore.in_dir(state_dir),
        Nvml(nvml or FakePynvml()),
        EngineConfig(node_name=node, limits=Limits(**limits), reserved_cpus=reserved_cpus),
    )


def profile(
    cpu: dict | None = None, gpu: dict | None = None, node: str = "n1", generation: int = 1, kind: str = "eco"
) -> NodePowerProfile:
    spec: dict[str, Any] = {"nodeName": node, "profile": kind}
    if cpu is not None:
        spec["cpu"] = cpu
    if gpu is not None:
        spec["gpu"] = {"powerCap": gpu}
    return NodePowerProfile.model_validate(
        {"metadata": {"name": f"node-{node}", "generation": generation}, "spec": spec}
    )


def cond(status, type_: str):
    return next(c for c in status.conditions if c.type == type_)
