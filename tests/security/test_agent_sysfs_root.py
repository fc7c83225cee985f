"""Issue 15, item 10: the agent never writes outside --sysfs-root.

A state-file key ``../../tmp/escape-target`` made ``--restore`` overwrite a file outside the
root, and a powercap attribute that is a symlink out of the root was written through.
"""

from __future__ import annotations

import json
import os

from joulie.cli import main
from tests.agent.hw import intel_two_socket, read, snapshot
from tests.security.agent_helpers import PKG0, PKG1, agent_args, write_profile


def _tree(tmp_path):
    sysroot, state = tmp_path / "sys", tmp_path / "state"
    sysroot.mkdir()
    intel_two_socket(sysroot)
    target = tmp_path / "escape-target"
    target.write_text("precious\n")
    return sysroot, state, target


def test_restore_refuses_a_state_key_that_climbs_out_of_the_root(tmp_path, capsys):
    sysroot, state, target = _tree(tmp_path)
    escape = "../" * (len(sysroot.parts) - 1) + str(target).lstrip("/")
    assert (sysroot / escape).resolve() == target
    state.mkdir()
    (state / "agent-originals.json").write_text(
        json.dumps({"version": 1, "originals": {"sysfs": {escape: 1, PKG0: 150000000}}})
    )
    (sysroot / PKG0).write_text("120000000\n")
    assert main(agent_args(sysroot, state, "--restore")) == 1
    out = json.loads(capsys.readouterr().out)
    assert target.read_text() == "precious\n"
    assert out["restored"] == 1 and read(sysroot, PKG0) == "150000000"  # the legitimate key still restores
    assert list(out["failed"]) == [f"sysfs:{escape}"] and "refused" in out["failed"][f"sysfs:{escape}"]


def test_a_powercap_attribute_symlinked_out_of_the_root_is_not_written(tmp_path, capsys):
    sysroot, state, target = _tree(tmp_path)
    (sysroot / PKG1).unlink()
    os.symlink(target, sysroot / PKG1)
    before = snapshot(sysroot)
    code = main(agent_args(sysroot, state, "--profile", str(write_profile(tmp_path / "p.yaml", 120)), "--once"))
    assert code == 1
    assert target.read_text() == "precious\n"
    assert snapshot(sysroot) == before  # nothing written on the other package either
    status = json.loads(capsys.readouterr().out)["status"]
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "HardwareUnreadable" and "outside" in degraded["message"]


def test_a_zone_directory_symlinked_out_of_the_root_is_not_written(tmp_path, capsys):
    sysroot, state, _ = _tree(tmp_path)
    outside = tmp_path / "fake-zone"
    (sysroot / "class/powercap/intel-rapl:1").rename(outside)
    os.symlink(outside, sysroot / "class/powercap/intel-rapl:1")
    planted = (outside / "constraint_0_power_limit_uw").read_text()
    assert main(agent_args(sysroot, state, "--profile", str(write_profile(tmp_path / "p.yaml", 120)), "--once")) == 1
    assert (outside / "constraint_0_power_limit_uw").read_text() == planted
    assert read(sysroot, PKG0) == "150000000"
    capsys.readouterr()
