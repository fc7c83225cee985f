"""Issue 15, item 11: SIGTERM during ``--once`` rolls the partial write back, as loop mode does.

Before, the default SIGTERM action killed the process between two package writes: package 0
stayed at 120 W, package 1 at 150 W, exit 143, nothing restored.
"""

from __future__ import annotations

import subprocess
import sys

from tests.agent.hw import intel_two_socket, read, snapshot
from tests.security.agent_helpers import PKG0, ROOT, agent_args, write_profile

# The agent, in its own process, with a sysfs that delivers SIGTERM right after the first
# package's limit is written: the signal arrives exactly mid-apply, every run.
DRIVER = """
import os, signal, sys
import agent.sysfs as sysfs
real_write = sysfs.Sysfs.write
def write(self, rel, value):
    real_write(self, rel, value)
    if rel == {pkg0!r} and value == "120000000":
        os.kill(os.getpid(), signal.SIGTERM)
sysfs.Sysfs.write = write
from joulie.cli import main
sys.exit(main({args!r}))
"""


def test_sigterm_mid_apply_during_once_restores_the_originals(tmp_path):
    sysroot, state = tmp_path / "sys", tmp_path / "state"
    sysroot.mkdir()
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    args = agent_args(sysroot, state, "--profile", str(write_profile(tmp_path / "p.yaml", 120)), "--once")
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER.format(pkg0=PKG0, args=args)],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr.decode()
    assert b"interrupted during --once: originals restored" in proc.stderr
    assert read(sysroot, PKG0) == "150000000"
    assert snapshot(sysroot) == before
