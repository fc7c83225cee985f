"""Applying, verifying and restoring CPU caps on emulated sysfs trees; exact file contents."""

from __future__ import annotations

import json

import pytest

from agent.sysfs import Sysfs, SysfsError
from tests.agent.conftest import cond, make_engine, profile
from tests.agent.hw import (
    CPUINFO_MAX,
    CPUINFO_MIN,
    ORIG_LIMIT_UW,
    SHORT_LIMIT_UW,
    add_cpufreq,
    add_rapl,
    intel_two_socket,
    read,
    snapshot,
)

PKG0 = "class/powercap/intel-rapl:0/constraint_0_power_limit_uw"
PKG1 = "class/powercap/intel-rapl:1/constraint_0_power_limit_uw"
SUBS = [f"class/powercap/intel-rapl:{s}:{z}/constraint_0_power_limit_uw" for s in (0, 1) for z in (0, 1, 2)]


def maxf(cpu: int) -> str:
    return f"devices/system/cpu/cpu{cpu}/cpufreq/scaling_max_freq"


def minf(cpu: int) -> str:
    return f"devices/system/cpu/cpu{cpu}/cpufreq/scaling_min_freq"


def test_package_cap_goes_to_package_zones_only(sysroot, state_dir):
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    result = make_engine(sysroot, state_dir).reconcile(profile(cpu={"packagePowerCapWatts": 120}))
    after = snapshot(sysroot)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {PKG0, PKG1}
    assert read(sysroot, PKG0) == "120000000" and read(sysroot, PKG1) == "120000000"
    assert all(read(sysroot, s) == "0" for s in SUBS)
    assert read(sysroot, "class/powercap/intel-rapl:0/constraint_1_power_limit_uw") == str(SHORT_LIMIT_UW)
    st = result.status
    assert result.ok and st.cpu.backend == "rapl" and st.cpu.package_power_cap_watts == 120
    assert [(p.zone, p.cap_watts) for p in st.cpu.packages] == [("intel-rapl:0", 120), ("intel-rapl:1", 120)]
    assert cond(st, "Applied").status == "True" and cond(st, "Degraded").status == "False"
    assert st.observed_generation == 1
    saved = json.loads((state_dir / "agent-originals.json").read_text())["originals"]["sysfs"]
    assert saved == {PKG0: ORIG_LIMIT_UW, PKG1: ORIG_LIMIT_UW}


def test_percent_of_max_and_clamp_above_max(sysroot, state_dir):
    intel_two_socket(sysroot)
    engine = make_engine(sysroot, state_dir)
    engine.reconcile(profile(cpu={"packagePowerCapPctOfMax": 50}))
    assert read(sysroot, PKG0) == "102500000"
    r = engine.reconcile(profile(cpu={"packagePowerCapWatts": 5000}, kind="performance", generation=2))
    assert read(sysroot, PKG0) == "205000000" and read(sysroot, PKG1) == "205000000"
    assert r.ok and "clamped to the maximum 205 W" in cond(r.status, "Applied").message


@pytest.mark.parametrize(
    "cap,reason",
    [
        ({"packagePowerCapWatts": 10}, "CapBelowMinimum"),  # floor: 10 % of 205 W
        ({"packagePowerCapWatts": 5000}, "CapAboveMaximum"),  # strict limits
    ],
)
def test_out_of_range_caps_are_refused_and_nothing_is_written(sysroot, state_dir, cap, reason):
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    engine = make_engine(sysroot, state_dir, strict=True)
    r = engine.reconcile(profile(cpu=cap))
    assert not r.ok
    assert cond(r.status, "Degraded").status == "True" and cond(r.status, "Degraded").reason == reason
    assert cond(r.status, "Applied").status == "False"
    assert snapshot(sysroot) == before
    assert not (state_dir / "agent-originals.json").exists()


def test_refusal_keeps_the_previous_caps(sysroot, state_dir):
    intel_two_socket(sysroot)
    engine = make_engine(sysroot, state_dir)
    engine.reconcile(profile(cpu={"packagePowerCapWatts": 120}))
    r = engine.reconcile(profile(cpu={"packagePowerCapWatts": 3}, generation=2))
    assert read(sysroot, PKG0) == "120000000"
    assert r.status.cpu.package_power_cap_watts == 120 and r.status.observed_generation == 2
    assert "below the minimum 20.5 W of intel-rapl:0 (package-0)" in cond(r.status, "Degraded").message


def test_profile_for_another_node_is_refused(sysroot, state_dir):
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    r = make_engine(sysroot, state_dir).reconcile(profile(cpu={"packagePowerCapWatts": 120}, node="other"))
    assert cond(r.status, "Degraded").reason == "WrongNode"
    assert snapshot(sysroot) == before


def test_unparsable_zone_is_refused(sysroot, state_dir):
    intel_two_socket(sysroot)
    (sysroot / "class/powercap/intel-rapl:1/constraint_0_max_power_uw").write_text("n/a\n")
    before = snapshot(sysroot)
    r = make_engine(sysroot, state_dir).reconcile(profile(cpu={"packagePowerCapWatts": 120}))
    assert cond(r.status, "Degraded").reason == "HardwareUnreadable"
    assert (
        "intel-rapl:1" in cond(r.status, "Degraded").message and "not an integer" in cond(r.status, "Degraded").message
    )
    assert snapshot(sysroot) == before


def test_drift_is_reapplied_and_counted(sysroot, state_dir):
    intel_two_socket(sysroot)
    engine = make_engine(sysroot, state_dir)
    p = profile(cpu={"packagePowerCapWatts": 120})
    engine.reconcile(p)
    assert engine.reconcile(p).wrote == 0  # verify only
    (sysroot / PKG1).write_text(f"{ORIG_LIMIT_UW}\n")  # firmware reverts one package
    r = engine.reconcile(p)
    assert read(sysroot, PKG1) == "120000000"
    assert r.drifted == 1 and r.status.drift_corrections == 1
    assert b"joulie_agent_drift_corrections_total 1.0" in engine.metrics.render()


def test_restore_and_profile_deletion(sysroot, state_dir):
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    engine = make_engine(sysroot, state_dir)
    engine.reconcile(profile(cpu={"packagePowerCapWatts": 120}))
    r = engine.reconcile(None)  # the NodePowerProfile was deleted
    assert r.status is None
    assert snapshot(sysroot) == before
    assert json.loads((state_dir / "agent-originals.json").read_text())["originals"] == {}


def test_crash_and_restart_restores_the_true_originals(sysroot, state_dir):
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    make_engine(sysroot, state_dir).reconcile(profile(cpu={"packagePowerCapWatts": 120}))
    # the process dies here; a new one starts with the caps still in place
    restarted = make_engine(sysroot, state_dir)
    restarted.reconcile(profile(cpu={"packagePowerCapWatts": 100}, generation=2))
    assert read(sysroot, PKG0) == "100000000"
    restarted.restore_all()
    assert snapshot(sysroot) == before


def test_read_only_powercap_falls_back_to_dvfs(sysroot, state_dir):
    add_rapl(sysroot, read_only=True)
    add_cpufreq(sysroot, cpus=8)
    before = snapshot(sysroot)
    r = make_engine(sysroot, state_dir).reconcile(profile(cpu={"packagePowerCapWatts": 123}))
    # f = 123 / 205 = 0.6 -> 800000 + 0.6 * 3000000 = 2600000 kHz
    assert [read(sysroot, maxf(c)) for c in range(8)] == ["2600000"] * 8
    assert [read(sysroot, minf(c)) for c in range(8)] == [str(CPUINFO_MIN)] * 8
    assert all(read(sysroot, k) == before[k] for k in before if k.startswith("class/powercap"))
    st = r.status
    assert r.ok and st.cpu.backend == "dvfs" and st.cpu.max_freq_k_hz == 2600000 and st.cpu.throttle_pct == 40
    assert "RAPL limits are read-only (intel-rapl:0, intel-rapl:1)" in cond(st, "Applied").message


def test_vm_without_powercap_snaps_to_available_frequencies(sysroot, state_dir):
    avail = [800000, 1200000, 1600000, 2000000, 2400000, 2800000, 3200000, 3800000]
    add_cpufreq(sysroot, cpus=4, available=avail, driver="acpi-cpufreq")
    engine = make_engine(sysroot, state_dir)
    # 70 % -> 800000 + 0.7 * 3000000 = 2900000 -> highest listed <= target: 2800000
    r = engine.reconcile(profile(cpu={"packagePowerCapPctOfMax": 70}))
    assert [read(sysroot, maxf(c)) for c in range(4)] == ["2800000"] * 4
    assert r.status.cpu.backend == "dvfs"
    # watts need a package maximum: RAPL has none here
    r = engine.reconcile(profile(cpu={"packagePowerCapWatts": 100}, generation=2))
    assert cond(r.status, "Degraded").reason == "NoMaximum"
    r = make_engine(sysroot, state_dir, package_max_watts=200).reconcile(profile(cpu={"packagePowerCapWatts": 100}))
    assert read(sysroot, maxf(0)) == "2000000"  # 0.5 -> 2300000 -> 2000000
    assert r.ok


def test_machine_with_neither_reports_unsupported(sysroot, state_dir):
    (sysroot / "devices/system/cpu/cpu0").mkdir(parents=True)
    r = make_engine(sysroot, state_dir).reconcile(profile(cpu={"packagePowerCapWatts": 120}))
    assert not r.ok and r.status.cpu.backend == "none"
    assert cond(r.status, "Degraded").reason == "Unsupported"
    assert "cannot be enforced" in cond(r.status, "Degraded").message
    assert list(sysroot.rglob("*.json")) == []


class InvariantSysfs(Sysfs):
    """Real sysfs I/O that also checks min <= max after every cpufreq write, like the kernel would."""

    def __init__(self, root, fail_on: str | None = None):
        super().__init__(root)
        self.fail_on = fail_on
        self.history: list[tuple[str, str]] = []

    def write(self, rel: str, value: str) -> None:
        if rel == self.fail_on:
            raise SysfsError(5, f"cannot write {rel}: Input/output error")
        super().write(rel, value)
        self.history.append((rel, value))
        if "cpufreq" in rel:
            d = rel.rsplit("/", 1)[0]
            assert self.read_int(f"{d}/scaling_min_freq") <= self.read_int(f"{d}/scaling_max_freq"), rel


def test_min_stays_below_max_when_capping_and_restoring(sysroot, state_dir):
    add_cpufreq(sysroot, cpus=2, scaling_min=3_000_000)  # a tuned node with a high floor
    engine = make_engine(sysroot, state_dir)
    engine.fs = engine.sysfs.fs = fs = InvariantSysfs(sysroot)
    engine.reconcile(profile(cpu={"packagePowerCapPctOfMax": 40}))  # 800000 + 0.4 * 3e6 = 2000000
    assert read(sysroot, maxf(0)) == "2000000" and read(sysroot, minf(0)) == "2000000"
    assert fs.history[:2] == [(minf(0), "2000000"), (maxf(0), "2000000")]
    engine.restore_all()
    assert read(sysroot, minf(1)) == "3000000" and read(sysroot, maxf(1)) == str(CPUINFO_MAX)
    assert fs.history[-2:] == [(maxf(1), str(CPUINFO_MAX)), (minf(1), "3000000")]


def test_failed_write_midway_is_rolled_back(sysroot, state_dir):
    add_rapl(sysroot)
    before = snapshot(sysroot)
    engine = make_engine(sysroot, state_dir)
    engine.fs = engine.sysfs.fs = InvariantSysfs(sysroot, fail_on=PKG1)
    r = engine.reconcile(profile(cpu={"packagePowerCapWatts": 120}))
    assert snapshot(sysroot) == before  # intel-rapl:0 was written, then put back
    assert not r.ok and cond(r.status, "Degraded").reason == "ApplyFailed"
    assert "rolled back 1 of 1" in cond(r.status, "Degraded").message


def test_failed_rapl_write_falls_back_to_dvfs_in_auto_mode(sysroot, state_dir):
    intel_two_socket(sysroot)
    engine = make_engine(sysroot, state_dir)
    engine.fs = engine.sysfs.fs = InvariantSysfs(sysroot, fail_on=PKG1)
    r = engine.reconcile(profile(cpu={"packagePowerCapWatts": 123}))
    assert read(sysroot, PKG0) == str(ORIG_LIMIT_UW)
    assert read(sysroot, maxf(7)) == "2600000"
    assert r.ok and r.status.cpu.backend == "dvfs"
