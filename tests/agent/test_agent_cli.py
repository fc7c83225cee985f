"""``joulie agent`` offline: --profile, --once, --dry-run, --restore, and SIGTERM restoring originals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from joulie.cli import main
from tests.agent.hw import intel_two_socket, read, snapshot

PKG0 = "class/powercap/intel-rapl:0/constraint_0_power_limit_uw"
ROOT = Path(__file__).resolve().parents[2]

PROFILE = """\
apiVersion: joulie.io/v1alpha1
kind: NodePowerProfile
metadata: {name: node-worker-1, generation: 4}
spec:
  nodeName: worker-1
  profile: eco
  cpu: {packagePowerCapWatts: %s}
"""


def write_profile(tmp_path: Path, watts: object = 120) -> Path:
    p = tmp_path / "npp.yaml"
    p.write_text(PROFILE % watts)
    return p


def agent(sysroot: Path, state: Path, *extra: str) -> list[str]:
    return [
        "agent",
        "--sysfs-root",
        str(sysroot),
        "--state-dir",
        str(state),
        "--log-format",
        "text",
        "--metrics-port",
        "0",
        *extra,
    ]


def test_profile_once_then_restore(tmp_path, sysroot, state_dir, capsys):
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    assert main(agent(sysroot, state_dir, "--profile", str(write_profile(tmp_path)), "--once")) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"]["cpu"]["packagePowerCapWatts"] == 120 and out["status"]["observedGeneration"] == 4
    assert read(sysroot, PKG0) == "120000000"
    assert main(agent(sysroot, state_dir, "--restore")) == 0
    assert json.loads(capsys.readouterr().out) == {"failed": {}, "restored": 2}
    assert snapshot(sysroot) == before


def test_dry_run_writes_nothing(tmp_path, sysroot, state_dir, capsys):
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    assert main(agent(sysroot, state_dir, "--profile", str(write_profile(tmp_path)), "--once", "--dry-run")) == 0
    assert "would apply intel-rapl:0 120 W" in capsys.readouterr().out
    assert snapshot(sysroot) == before and not state_dir.exists()


def test_bad_profile_file_exits_nonzero_and_writes_nothing(tmp_path, sysroot, state_dir, capsys):
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    assert (
        main(
            agent(
                sysroot, state_dir, "--node-name", "worker-1", "--profile", str(write_profile(tmp_path, -5)), "--once"
            )
        )
        == 1
    )
    out = json.loads(capsys.readouterr().out)
    degraded = next(c for c in out["status"]["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "InvalidProfile"
    assert "packagePowerCapWatts" in degraded["message"]
    assert snapshot(sysroot) == before


def test_node_name_is_required_without_profile(sysroot, state_dir, capsys, monkeypatch):
    monkeypatch.delenv("NODE_NAME", raising=False)
    assert main(agent(sysroot, state_dir)) == 2
    assert "--node-name" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(pred, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_daemon_reapplies_serves_metrics_and_restores_on_sigterm(tmp_path, sysroot, state_dir):
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "joulie",
        *agent(sysroot, state_dir, "--profile", str(write_profile(tmp_path)), "--interval", "0.2"),
    ]
    cmd[cmd.index("--metrics-port") + 1] = str(port)
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        assert _wait_for(lambda: read(sysroot, PKG0) == "120000000")
        (sysroot / PKG0).write_text("150000000\n")  # firmware revert
        assert _wait_for(lambda: read(sysroot, PKG0) == "120000000")

        def metrics() -> str:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                return ""

        assert _wait_for(lambda: "joulie_agent_drift_corrections_total 1.0" in metrics())
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200
        (tmp_path / "npp.yaml").write_text(PROFILE % 90)  # operator edits the file
        assert _wait_for(lambda: read(sysroot, PKG0) == "90000000")
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert snapshot(sysroot) == before


def test_inventory_offline_table_and_json(sysroot, state_dir, capsys):
    from tests.agent.hw import intel_server

    intel_server(sysroot, cpus=4)
    before = snapshot(sysroot)
    assert main(["agent", "--inventory", "--sysfs-root", str(sysroot), "--state-dir", str(state_dir)]) == 0
    table = capsys.readouterr().out
    assert "scaling driver: intel_pstate" in table
    assert "governors (spec.cpu.governor): performance powersave" in table
    assert "C6       latency   170 us  MWAIT 0x20" in table
    assert "package_01_die_00  800-2400 MHz" in table
    assert "intel-rapl:0   package-0  max 205 W, writable" in table
    assert main(["agent", "--inventory", "--json", "--sysfs-root", str(sysroot)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["frequency"] == {"maxMHz": 3800, "minMHz": 800} and doc["cpuidleDriver"] == "intel_idle"
    assert snapshot(sysroot) == before and not state_dir.exists()  # read only, no state, no lock


def test_json_without_inventory_is_an_error(sysroot, state_dir, capsys):
    assert main(agent(sysroot, state_dir, "--node-name", "n", "--json")) == 2
    assert "--json goes with --inventory" in capsys.readouterr().err
