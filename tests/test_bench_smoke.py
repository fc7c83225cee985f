"""The labeller benchmark keeps running (small scale; figures come from the full run, not from tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_plan_bench_small_scale_has_no_steady_state_writes():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "plan_bench.py"), "--nodes", "60", "--pods", "1500", "--repeat", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "writes: first pass 120, steady-state ticks [0, 0, 0, 0, 0, 0]" in out.stdout


def test_agent_controls_bench_small_scale_runs_and_restores():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "agent_controls_bench.py"), "--cpus", "8", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # 8 EPP + 8 scaling_max_freq + 8 C6 disable (170 us > 100 us) + 2 packages + 2 uncore dies
    assert "values written on apply: 28" in out.stdout


def test_agent_pod_profiles_bench_small_scale_runs_and_restores():
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "agent_pod_profiles_bench.py"),
            "--cpus",
            "16",
            "--pods",
            "3",
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 pods x 4 exclusive CPUs" in out.stdout and "(the verify pass writes 0)" in out.stdout
