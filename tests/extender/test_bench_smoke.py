"""The extender benchmark still runs end to end (tiny cluster, no Go anchor, targets not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_extender_bench_runs_and_reports(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [
            sys.executable,
            "bench/extender_bench.py",
            "--nodes",
            "40",
            "--requests",
            "10",
            "--warmup",
            "1",
            "--no-go",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())["results"]
    assert {(x["mode"], x["verb"]) for x in rows} == {
        ("names", "filter"),
        ("names", "prioritize"),
        ("full", "filter"),
        ("full", "prioritize"),
    }
    assert all(x["joulieP99Ms"] > 0 for x in rows)
