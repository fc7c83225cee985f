"""Issue 15, item 12: no 1 W cap when RAPL gives no limits, no trust in an absurd RAPL maximum.

With no ``constraint_0_max_power_uw`` a 1 W cap (1,000,000 uW) was written; a maximum of 1e30 uW
made a 120 W cap fail with "below the minimum 1e+23 W" instead of naming the broken attribute.
"""

from __future__ import annotations

from agent.backends.nvml import Nvml
from agent.engine import Engine, EngineConfig
from agent.plan import Limits
from agent.state import OriginalsStore
from agent.sysfs import Sysfs
from joulie.api.v1alpha1 import NodePowerProfile
from tests.agent.hw import FakePynvml, intel_two_socket, read, snapshot
from tests.security.agent_helpers import PKG0

MAX0 = "class/powercap/intel-rapl:0/constraint_0_max_power_uw"
MAX1 = "class/powercap/intel-rapl:1/constraint_0_max_power_uw"


def _engine(tmp_path, sysroot, **limits):
    return Engine(
        Sysfs(sysroot),
        OriginalsStore.in_dir(tmp_path / "state"),
        Nvml(FakePynvml()),
        EngineConfig(node_name="n1", limits=Limits(**limits)),
    )


def _profile(watts: float) -> NodePowerProfile:
    return NodePowerProfile.model_validate(
        {
            "metadata": {"name": "node-n1"},
            "spec": {"nodeName": "n1", "profile": "eco", "cpu": {"packagePowerCapWatts": watts}},
        }
    )


def _degraded(result):
    return next(c for c in result.status.conditions if c.type == "Degraded")


def test_a_cap_below_the_absolute_floor_is_refused_when_rapl_reports_no_limits(tmp_path):
    sysroot = tmp_path / "sys"
    sysroot.mkdir()
    intel_two_socket(sysroot)
    (sysroot / MAX0).unlink()
    (sysroot / MAX1).unlink()
    before = snapshot(sysroot)
    engine = _engine(tmp_path, sysroot)
    r = engine.reconcile(_profile(1))
    assert _degraded(r).reason == "CapBelowMinimum" and "below the minimum 10 W" in _degraded(r).message
    assert snapshot(sysroot) == before
    assert engine.reconcile(_profile(50)).ok and read(sysroot, PKG0) == "50000000"
    assert _engine(tmp_path, sysroot, min_cap_watts=60).reconcile(_profile(50)).ok is False


def test_an_absurd_rapl_maximum_is_hardware_unreadable(tmp_path):
    sysroot = tmp_path / "sys"
    sysroot.mkdir()
    intel_two_socket(sysroot)
    (sysroot / MAX0).write_text(f"{10**30}\n")
    before = snapshot(sysroot)
    r = _engine(tmp_path, sysroot).reconcile(_profile(120))
    assert _degraded(r).reason == "HardwareUnreadable"
    assert "intel-rapl:0" in _degraded(r).message and "not a plausible package maximum" in _degraded(r).message
    assert snapshot(sysroot) == before
