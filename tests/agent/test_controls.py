"""Governor, EPP, frequency, C-states and uncore on sysfs trees laid out like real machines; exact file contents."""

from __future__ import annotations

import json
import os

import pytest

from agent.sysfs import Sysfs, SysfsError
from tests.agent.conftest import cond, make_engine, profile
from tests.agent.hw import (
    AMD_CPUINFO,
    CPUINFO_MAX,
    CPUINFO_MIN,
    UNCORE_MAX,
    UNCORE_MIN,
    add_cpufreq,
    amd_server,
    intel_server,
    read,
    snapshot,
    vm_guest,
)

CPU = "devices/system/cpu"
UNC = f"{CPU}/intel_uncore_frequency"
PKG0 = "class/powercap/intel-rapl:0/constraint_0_power_limit_uw"


def gov(c: int) -> str:
    return f"{CPU}/cpu{c}/cpufreq/scaling_governor"


def epp(c: int) -> str:
    return f"{CPU}/cpu{c}/cpufreq/energy_performance_preference"


def maxf(c: int) -> str:
    return f"{CPU}/cpu{c}/cpufreq/scaling_max_freq"


def minf(c: int) -> str:
    return f"{CPU}/cpu{c}/cpufreq/scaling_min_freq"


def disable(c: int, k: int) -> str:
    return f"{CPU}/cpu{c}/cpuidle/state{k}/disable"


def controls(status) -> dict:
    return {c.name: c for c in status.cpu.controls}


ECO = {
    "packagePowerCapWatts": 120,
    "governor": "powersave",
    "epp": "power",
    "frequency": {"minMHz": 1000, "maxMHz": 2000},
    "cstates": {"names": {"C1": True, "C1E": True, "C6": True}, "maxLatencyUs": 100},
    "uncore": {"maxPct": 50},
}


class RecordingSysfs(Sysfs):
    """Real sysfs I/O that records writes and checks every (min, max) pair stays ordered."""

    def __init__(self, root, fail_on: set[str] | None = None):
        super().__init__(root)
        self.fail_on = fail_on or set()
        self.history: list[tuple[str, str]] = []

    def write(self, rel: str, value: str) -> None:
        if rel in self.fail_on:
            raise SysfsError(16, f"cannot write {rel}: Device or resource busy")
        super().write(rel, value)
        self.history.append((rel, value))
        d, name = rel.rsplit("/", 1)
        for lo, hi in (("scaling_min_freq", "scaling_max_freq"), ("min_freq_khz", "max_freq_khz")):
            if name in (lo, hi):
                assert self.read_int(f"{d}/{lo}") <= self.read_int(f"{d}/{hi}"), rel


def recording(engine, fail_on: set[str] | None = None) -> RecordingSysfs:
    fs = RecordingSysfs(engine.fs.root, fail_on)
    engine.fs = engine.sysfs.fs = fs
    return fs


def test_intel_every_control_applied_in_order_and_read_back(sysroot, state_dir):
    intel_server(sysroot)
    engine = make_engine(sysroot, state_dir)
    fs = recording(engine)
    r = engine.reconcile(profile(cpu=ECO))
    assert r.ok, cond(r.status, "Applied").message
    assert read(sysroot, PKG0) == "120000000"
    for c in range(8):
        assert read(sysroot, gov(c)) == "powersave"
        assert read(sysroot, epp(c)) == "power"
        assert (read(sysroot, minf(c)), read(sysroot, maxf(c))) == ("1000000", "2000000")
        # C6's 170 us exit latency is above maxLatencyUs 100: disabled although names enables it
        assert [read(sysroot, disable(c, k)) for k in range(4)] == ["0", "0", "0", "1"]
    for die in ("package_00_die_00", "package_01_die_00"):
        # 50 % of 800-2400 MHz = 1600 MHz; the minimum stays where it was
        assert read(sysroot, f"{UNC}/{die}/max_freq_khz") == "1600000"
        assert read(sysroot, f"{UNC}/{die}/min_freq_khz") == str(UNCORE_MIN)
    order = [k.rsplit("/", 1)[-1] for k, _ in fs.history]
    first = {name: order.index(name) for name in dict.fromkeys(order)}
    assert (
        first["constraint_0_power_limit_uw"]
        < first["energy_performance_preference"]
        < first["scaling_max_freq"]
        < first["scaling_min_freq"]
        < first["disable"]
        < first["max_freq_khz"]
    )
    # governor already powersave: nothing written for it; max before min when lowering both
    assert "scaling_governor" not in order
    assert fs.history.index((maxf(0), "2000000")) < fs.history.index((minf(0), "1000000"))
    st = controls(r.status)
    assert [c.name for c in r.status.cpu.controls] == ["governor", "epp", "frequency", "cstates", "uncore"]
    assert all(c.result == "applied" for c in st.values())
    assert st["frequency"].requested == "1000-2000 MHz" and st["frequency"].applied == "1000-2000 MHz on 8 policies"
    assert st["cstates"].applied == "disabled: C6 on 8 CPUs"
    assert st["uncore"].applied == "800-1600 MHz on 2 dies"
    assert r.status.cpu.controls_summary == (
        "governor=powersave epp=power frequency=1000-2000 MHz cstates=C1=on,C1E=on,C6=on,<=100us uncore=-50 %"
    )


def test_originals_are_saved_before_the_first_write_and_everything_comes_back(sysroot, state_dir):
    intel_server(sysroot)
    before = snapshot(sysroot)
    engine = make_engine(sysroot, state_dir)
    engine.reconcile(profile(cpu={**ECO, "governor": "performance", "epp": "performance"}))
    saved = json.loads((state_dir / "agent-originals.json").read_text())
    assert saved["version"] == 2
    sysfs = saved["originals"]["sysfs"]
    assert sysfs[gov(3)] == "powersave" and sysfs[epp(3)] == "balance_performance"
    assert sysfs[maxf(0)] == CPUINFO_MAX and sysfs[disable(5, 3)] == 0
    assert sysfs[f"{UNC}/package_01_die_00/max_freq_khz"] == UNCORE_MAX
    engine.reconcile(None)  # profile deleted
    assert snapshot(sysroot) == before


def test_epp_under_performance_governor_fails_alone(sysroot, state_dir):
    intel_server(sysroot)
    r = make_engine(sysroot, state_dir).reconcile(profile(cpu={"governor": "performance", "epp": "power"}))
    st = controls(r.status)
    assert st["governor"].result == "applied" and read(sysroot, gov(0)) == "performance"
    assert st["epp"].result == "failed" and read(sysroot, epp(0)) == "balance_performance"
    assert "intel_pstate refuses EPP 'power' under the performance governor" in st["epp"].message
    applied = cond(r.status, "Applied")
    assert applied.status == "False" and applied.reason == "ApplyFailed"
    assert "controls failed: epp" in applied.message
    assert r.status.cpu.controls_summary == "governor=performance epp=failed"


def test_epp_under_the_nodes_own_performance_governor_is_skipped_with_the_reason(sysroot, state_dir):
    intel_server(sysroot, cpus=2)
    for c in range(2):
        (sysroot / f"{CPU}/cpufreq/policy{c}/scaling_governor").write_text("performance\n")
    r = make_engine(sysroot, state_dir).reconcile(profile(cpu={"epp": "balance_power"}))
    st = controls(r.status)["epp"]
    assert st.result == "skipped" and "(node's own, cpu0)" in st.message and "governor: powersave" in st.message
    assert r.ok and read(sysroot, epp(0)) == "balance_performance"


def test_numeric_epp_reads_back_as_its_name_on_intel(sysroot, state_dir):
    intel_server(sysroot, cpus=2)

    class IntelEpp(Sysfs):
        """intel_pstate shows a raw EPP that matches a preset by the preset's name."""

        def write(self, rel: str, value: str) -> None:
            names = {"0": "performance", "128": "balance_performance", "192": "balance_power", "255": "power"}
            super().write(rel, names.get(value, value) if rel.endswith("preference") else value)

    engine = make_engine(sysroot, state_dir)
    engine.fs = engine.sysfs.fs = IntelEpp(sysroot)
    r = engine.reconcile(profile(cpu={"epp": 192}))
    assert r.ok and read(sysroot, epp(1)) == "balance_power"
    assert engine.reconcile(profile(cpu={"epp": 192})).wrote == 0  # in place, not drift


def test_unknown_governor_fails_and_the_other_controls_still_apply(sysroot, state_dir):
    intel_server(sysroot)
    r = make_engine(sysroot, state_dir).reconcile(profile(cpu={"governor": "ondemand", "epp": "balance_power"}))
    st = controls(r.status)
    assert st["governor"].result == "failed"
    assert "not available on cpu0 (scaling_available_governors: performance powersave)" in st["governor"].message
    assert st["epp"].result == "applied" and read(sysroot, epp(7)) == "balance_power"
    assert read(sysroot, gov(0)) == "powersave"


def test_cstates_by_name_poll_never_disabled_unknown_names_reported(sysroot, state_dir):
    intel_server(sysroot, cpus=2)
    r = make_engine(sysroot, state_dir).reconcile(
        profile(cpu={"cstates": {"names": {"POLL": False, "C1E": False, "C3": False}}})
    )
    assert r.ok
    assert [read(sysroot, disable(1, k)) for k in range(4)] == ["0", "0", "1", "0"]
    msg = controls(r.status)["cstates"].message
    assert "unknown C-state name(s) C3 ignored; this node has C1, C1E, C6, POLL" in msg
    assert "POLL is never disabled" in msg


def test_latency_limit_alone_disables_slow_states_but_never_poll(sysroot, state_dir):
    intel_server(sysroot, cpus=2)
    r = make_engine(sysroot, state_dir).reconcile(profile(cpu={"cstates": {"maxLatencyUs": 0}}))
    assert r.ok
    assert [read(sysroot, disable(0, k)) for k in range(4)] == ["0", "1", "1", "1"]


def test_removing_a_control_restores_only_that_control(sysroot, state_dir):
    intel_server(sysroot, cpus=4)
    engine = make_engine(sysroot, state_dir)
    engine.reconcile(profile(cpu={"governor": "performance", "cstates": {"names": {"C6": False}}}))
    assert read(sysroot, gov(2)) == "performance" and read(sysroot, disable(2, 3)) == "1"
    r = engine.reconcile(profile(cpu={"cstates": {"names": {"C6": False}}}, generation=2))
    assert r.ok and read(sysroot, gov(2)) == "powersave" and read(sysroot, disable(2, 3)) == "1"
    assert [c.name for c in r.status.cpu.controls] == ["cstates"]
    saved = json.loads((state_dir / "agent-originals.json").read_text())["originals"]["sysfs"]
    assert gov(2) not in saved and disable(2, 3) in saved


def test_a_range_bound_left_out_keeps_the_original_not_the_last_profile(sysroot, state_dir):
    intel_server(sysroot, cpus=2)
    engine = make_engine(sysroot, state_dir)
    engine.reconcile(profile(cpu={"frequency": {"minMHz": 2500, "maxMHz": 3000}}))
    assert (read(sysroot, minf(0)), read(sysroot, maxf(0))) == ("2500000", "3000000")
    engine.reconcile(profile(cpu={"frequency": {"maxMHz": 2000}}, generation=2))
    assert (read(sysroot, minf(0)), read(sysroot, maxf(0))) == (str(CPUINFO_MIN), "2000000")


def test_percent_ranges_and_clamping_to_cpuinfo(sysroot, state_dir):
    intel_server(sysroot, cpus=2)
    engine = make_engine(sysroot, state_dir)
    r = engine.reconcile(profile(cpu={"frequency": {"minPct": 0, "maxPct": 60}}))
    # 800 + 0.6 * (3800 - 800) = 2600 MHz
    assert (read(sysroot, minf(1)), read(sysroot, maxf(1))) == (str(CPUINFO_MIN), "2600000")
    r = engine.reconcile(profile(cpu={"frequency": {"minMHz": 100, "maxMHz": 9000}}, generation=2))
    assert (read(sysroot, minf(1)), read(sysroot, maxf(1))) == (str(CPUINFO_MIN), str(CPUINFO_MAX))
    msg = controls(r.status)["frequency"].message
    assert "minimum 100 MHz raised to the cpuinfo minimum 800 MHz" in msg
    assert "maximum 9000 MHz lowered to the cpuinfo maximum 3800 MHz" in msg


def test_dvfs_cap_and_frequency_maximum_combine_without_fighting(sysroot, state_dir):
    intel_server(sysroot, cpus=4)
    for z in (0, 1):  # RAPL limits locked by firmware: the cap goes through DVFS
        os.chmod(sysroot / f"class/powercap/intel-rapl:{z}/constraint_0_power_limit_uw", 0o444)
    engine = make_engine(sysroot, state_dir)
    # cap 123 W of 205 W -> 2600 MHz; frequency asks 2000: the lower maximum wins
    p = profile(cpu={"packagePowerCapWatts": 123, "frequency": {"maxMHz": 2000}})
    r = engine.reconcile(p)
    assert r.ok and r.status.cpu.backend == "dvfs"
    assert [read(sysroot, maxf(c)) for c in range(4)] == ["2000000"] * 4
    again = engine.reconcile(p)
    assert again.wrote == 0 and again.drifted == 0
    # frequency asks more than the cap allows: the cap's maximum wins
    r = engine.reconcile(profile(cpu={"packagePowerCapWatts": 123, "frequency": {"maxMHz": 3500}}, generation=2))
    assert [read(sysroot, maxf(c)) for c in range(4)] == ["2600000"] * 4
    assert "DVFS maximum is lower and wins" in controls(r.status)["frequency"].message
    assert engine.reconcile(profile(cpu={"packagePowerCapWatts": 123, "frequency": {"maxMHz": 3500}})).wrote == 0


def test_drifted_control_is_reapplied_and_counted(sysroot, state_dir):
    intel_server(sysroot, cpus=2)
    engine = make_engine(sysroot, state_dir)
    p = profile(cpu={"epp": "balance_power"})
    engine.reconcile(p)
    (sysroot / f"{CPU}/cpufreq/policy1/energy_performance_preference").write_text("performance\n")
    r = engine.reconcile(p)
    assert r.drifted == 1 and read(sysroot, epp(1)) == "balance_power"


def test_read_only_epp_fails_without_undoing_the_others(sysroot, state_dir):
    intel_server(sysroot, cpus=2)
    os.chmod(sysroot / f"{CPU}/cpufreq/policy1/energy_performance_preference", 0o444)
    before = snapshot(sysroot)
    r = make_engine(sysroot, state_dir).reconcile(
        profile(cpu={"epp": "power", "cstates": {"names": {"C6": False}}, "uncore": {"maxMHz": 2000}})
    )
    st = controls(r.status)
    assert st["epp"].result == "failed" and "is read-only" in st["epp"].message
    assert read(sysroot, epp(0)) == before[epp(0).replace("cpu0/cpufreq", "cpufreq/policy0")]
    assert st["cstates"].result == "applied" and read(sysroot, disable(1, 3)) == "1"
    assert st["uncore"].result == "applied" and read(sysroot, f"{UNC}/package_00_die_00/max_freq_khz") == "2000000"


def test_write_refused_midway_rolls_back_that_control_only(sysroot, state_dir):
    intel_server(sysroot, cpus=4)
    engine = make_engine(sysroot, state_dir)
    recording(engine, fail_on={epp(2)})
    r = engine.reconcile(profile(cpu={"epp": "power", "governor": "powersave", "frequency": {"maxMHz": 3000}}))
    st = controls(r.status)
    assert st["epp"].result == "failed" and "rolled back 2 of 2 earlier writes" in st["epp"].message
    assert [read(sysroot, epp(c)) for c in range(4)] == ["balance_performance"] * 4
    assert st["frequency"].result == "applied" and read(sysroot, maxf(3)) == "3000000"


def test_uncore_percent_range_on_every_die_in_100mhz_steps(sysroot, state_dir):
    intel_server(sysroot, cpus=2)
    r = make_engine(sysroot, state_dir).reconcile(profile(cpu={"uncore": {"minPct": 10, "maxPct": 70}}))
    # 800 + 0.1 * 1600 = 960 -> 900 MHz; 800 + 0.7 * 1600 = 1920 -> 1900 MHz
    for die in ("package_00_die_00", "package_01_die_00"):
        assert read(sysroot, f"{UNC}/{die}/min_freq_khz") == "900000"
        assert read(sysroot, f"{UNC}/{die}/max_freq_khz") == "1900000"
    assert r.ok


def test_amd_epp_names_apply_raw_values_and_uncore_are_unsupported(sysroot, state_dir):
    amd_server(sysroot)
    engine = make_engine(sysroot, state_dir)
    r = engine.reconcile(
        profile(cpu={"epp": "balance_power", "cstates": {"names": {"C2": False}}, "uncore": {"maxPct": 50}})
    )
    st = controls(r.status)
    assert st["epp"].result == "applied" and read(sysroot, epp(5)) == "balance_power"
    assert st["cstates"].result == "applied" and read(sysroot, disable(5, 2)) == "1"
    assert st["uncore"].result == "unsupported" and "Intel only" in st["uncore"].message
    assert r.ok and cond(r.status, "Applied").status == "True"  # unsupported is reported, not a failure
    r = engine.reconcile(profile(cpu={"epp": 128}, generation=2))
    assert controls(r.status)["epp"].result == "unsupported"
    assert "amd-pstate-epp takes only the names" in controls(r.status)["epp"].message


def test_amd_cap_goes_through_dvfs_since_rapl_has_no_limits(sysroot, state_dir):
    amd_server(sysroot, cpus=2)
    engine = make_engine(sysroot, state_dir)
    r = engine.reconcile(profile(cpu={"packagePowerCapPctOfMax": 50, "frequency": {"maxPct": 100}}))
    lo, hi = AMD_CPUINFO
    assert r.status.cpu.backend == "dvfs" and read(sysroot, maxf(0)) == str(lo + (hi - lo) // 2)


def test_vm_governor_and_listed_frequencies_no_epp_no_cpuidle(sysroot, state_dir):
    vm_guest(sysroot)
    r = make_engine(sysroot, state_dir).reconcile(
        profile(
            cpu={
                "governor": "ondemand",
                "epp": "power",
                "cstates": {"maxLatencyUs": 10},
                "frequency": {"maxMHz": 2300, "minMHz": 1300},
            }
        )
    )
    st = controls(r.status)
    assert st["governor"].result == "applied" and read(sysroot, gov(3)) == "ondemand"
    assert st["epp"].result == "unsupported" and "acpi-cpufreq" in st["epp"].message
    assert st["cstates"].result == "unsupported"
    # snapped to scaling_available_frequencies: max down to 2000, min up to 1600
    assert (read(sysroot, minf(0)), read(sysroot, maxf(0))) == ("1600000", "2000000")
    assert r.ok


def test_capabilities_in_status(sysroot, state_dir):
    intel_server(sysroot, cpus=4)
    caps = make_engine(sysroot, state_dir).reconcile(profile(cpu={"governor": "powersave"})).status.capabilities
    api = caps.to_api()
    assert api["cpus"] == 4 and api["scalingDriver"] == "intel_pstate"
    assert api["frequency"] == {"minMHz": 800, "maxMHz": 3800}
    assert api["governors"] == ["performance", "powersave"]
    assert api["epp"] == ["default", "performance", "balance_performance", "balance_power", "power"]
    assert [(s["name"], s["latencyUs"]) for s in api["cstates"]] == [("POLL", 0), ("C1", 1), ("C1E", 4), ("C6", 170)]
    assert api["uncore"] == [
        {"die": "package_00_die_00", "minMHz": 800, "maxMHz": 2400},
        {"die": "package_01_die_00", "minMHz": 800, "maxMHz": 2400},
    ]
    assert api["raplZones"][0] == {"zone": "intel-rapl:0", "name": "package-0", "maxWatts": 205, "writable": True}


def test_controls_need_a_host_control_path(sysroot, state_dir):
    from joulie.api.v1alpha1 import CpuControl, TelemetryControls

    intel_server(sysroot, cpus=2)
    before = snapshot(sysroot)
    r = make_engine(sysroot, state_dir).reconcile(
        profile(cpu={"governor": "performance"}), TelemetryControls(cpu=CpuControl(type="none"))
    )
    assert controls(r.status)["governor"].result == "skipped" and snapshot(sysroot) == before


def test_crash_between_two_controls_restores_both(sysroot, state_dir):
    intel_server(sysroot, cpus=4)
    before = snapshot(sysroot)

    class DiesAfterGovernors(Sysfs):
        def write(self, rel: str, value: str) -> None:
            if rel.endswith("energy_performance_preference"):
                os._exit(137)  # the node's agent is killed between the governor and the EPP writes
            super().write(rel, value)

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        engine = make_engine(sysroot, state_dir)
        engine.fs = engine.sysfs.fs = DiesAfterGovernors(sysroot)
        engine.reconcile(profile(cpu={"governor": "performance", "epp": "performance", "uncore": {"maxPct": 0}}))
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 137
    assert read(sysroot, gov(0)) == "performance"  # the governor was written, EPP not yet
    restarted = make_engine(sysroot, state_dir)
    report = restarted.restore_all()
    assert report.failed == {}
    assert snapshot(sysroot) == before


@pytest.mark.parametrize("kind", ["intel", "amd", "vm"])
def test_restore_puts_every_machine_back(sysroot, state_dir, kind):
    {"intel": intel_server, "amd": amd_server, "vm": vm_guest}[kind](sysroot)
    before = snapshot(sysroot)
    engine = make_engine(sysroot, state_dir)
    cpu = {**ECO, "governor": "performance", "epp": "performance", "packagePowerCapPctOfMax": 60}
    del cpu["packagePowerCapWatts"]  # watts need a package maximum, which only the Intel tree reports
    engine.reconcile(profile(cpu=cpu))
    assert snapshot(sysroot) != before
    engine.restore_all()
    assert snapshot(sysroot) == before


def test_legacy_state_file_still_restores(sysroot, state_dir):
    add_cpufreq(sysroot, cpus=1)
    (sysroot / maxf(0)).write_text("2000000\n")
    state_dir.mkdir()
    (state_dir / "agent-originals.json").write_text(
        json.dumps({"version": 1, "originals": {"sysfs": {maxf(0): 3800000}}})
    )
    make_engine(sysroot, state_dir).restore_all()
    assert read(sysroot, maxf(0)) == "3800000"
