"""Helpers shared by the agent's security regression tests: a profile file and the CLI arguments."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG0 = "class/powercap/intel-rapl:0/constraint_0_power_limit_uw"
PKG1 = "class/powercap/intel-rapl:1/constraint_0_power_limit_uw"

PROFILE = """\
apiVersion: joulie.io/v1alpha1
kind: NodePowerProfile
metadata: {name: node-worker-1, generation: 1}
spec:
  nodeName: worker-1
  profile: eco
  cpu: {packagePowerCapWatts: %s}
"""


def write_profile(path: Path, watts: object) -> Path:
    path.write_text(PROFILE % watts)
    return path


def agent_args(sysroot: Path, state: Path, *extra: str) -> list[str]:
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


def spawn_agent(args: list[str]) -> subprocess.Popen[bytes]:
    """``joulie <args>`` in its own process (signals must reach it, not the test runner)."""
    return subprocess.Popen(
        [sys.executable, "-m", "joulie", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def wait_for(pred: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False
