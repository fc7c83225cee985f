"""What users feel: pending and turnaround per class, against the same job in A; the plots; the progress bar."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pytest

from joulie.cli import main
from simulator.cli import _Progress
from simulator.engine import JobRecord, QueueSample, RunResult, RunSpec
from simulator.report import COLUMNS, summarize, table, write_plots

CLASSES = ("perf", "eco", "general", "all")


def _run(key: str, jobs: list[JobRecord], energy_j: float = 3.6e6) -> RunResult:
    return RunResult(
        spec=RunSpec(key, f"run {key}", None),
        jobs=jobs,
        energy_j=energy_j,
        end_time=max(j.end for j in jobs),
        horizon=3600.0,
        power_series=[(3600.0, 1000.0)],
        queue_series=[QueueSample(0.0, 0, 0), QueueSample(60.0, 1, 2), QueueSample(120.0, 0, 0)],
    )


def _job(i: int, demand: str, arrival: float, start: float, end: float) -> JobRecord:
    return JobRecord(f"j{i}", demand, 0, arrival, work_seconds=end - start, start=start, end=end)


def test_turnaround_is_compared_with_the_same_job_in_a():
    a = _run("A", [_job(0, "performance", 0, 0, 100), _job(1, "eco", 0, 0, 100), _job(2, "general", 10, 10, 110)])
    # J: the performance job waits 50 s more (turnaround 150 vs 100), the eco job runs 20 % longer
    j = _run(
        "J",
        [_job(0, "performance", 0, 50, 150), _job(1, "eco", 0, 0, 120), _job(2, "general", 10, 10, 110)],
        energy_j=3.24e6,
    )
    rows = {r["run"]: r for r in summarize([a, j])}
    for prefix in CLASSES:
        for metric, unit in (("pending", "s"), ("turnaround", "s"), ("turnaround_vs_a", "pct")):
            for stat in ("mean", "p95", "p99"):
                assert f"{prefix}_{metric}_{stat}_{unit}" in rows["J"]
    assert rows["A"]["perf_turnaround_vs_a_p95_pct"] == 0.0
    assert rows["J"]["perf_pending_p95_s"] == 50.0
    assert rows["J"]["perf_turnaround_p95_s"] == 150.0
    assert rows["J"]["perf_turnaround_vs_a_p95_pct"] == pytest.approx(50.0)
    assert rows["J"]["eco_turnaround_vs_a_mean_pct"] == pytest.approx(20.0)
    assert rows["J"]["general_turnaround_vs_a_mean_pct"] == 0.0
    assert rows["J"]["all_turnaround_vs_a_mean_pct"] == pytest.approx(70.0 / 3)
    assert rows["J"]["energy_change_pct"] == pytest.approx(-10.0)
    # today's keys stay
    for key in ("pending_mean_s", "pending_p95_s", "perf_pending_mean_s", "perf_slowdown_p95_pct", "energy_kwh"):
        assert key in rows["J"]


def test_headline_columns_lead_the_table():
    keys = [k for k, _, _ in COLUMNS]
    assert keys[:6] == [
        "run",
        "energy_kwh",
        "energy_change_pct",
        "perf_pending_p95_s",
        "perf_turnaround_vs_a_p95_pct",
        "all_turnaround_vs_a_p95_pct",
    ]
    a = _run("A", [_job(0, "performance", 0, 0, 100)])
    header = table(summarize([a])).splitlines()[0]
    assert "energy vs A" in header and "perf pend p95" in header and "perf turn p95 vs A" in header


def test_plots_show_turnaround_and_performance_pending(tmp_path: Path):
    pytest.importorskip("matplotlib")
    a = _run("A", [_job(0, "performance", 0, 0, 100)])
    j = _run("J", [_job(0, "performance", 0, 30, 130)])
    paths = write_plots([a, j], summarize([a, j]), tmp_path)
    assert [p.name for p in paths] == ["power.png", "energy_vs_slowdown.png", "performance_pending.png"]
    assert all(p.stat().st_size > 5000 for p in paths)


def test_the_progress_bar_never_passes_its_total(monkeypatch: pytest.MonkeyPatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    bar = _Progress(True, horizon=3600.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm warns "clamping frac to range [0, 1]" on overshoot
        for step in range(0, 7201, 30):  # the run drains for an hour past the trace end
            bar("J", float(step))
            assert bar.bar.n <= bar.bar.total
        assert bar.bar.n == bar.bar.total
        bar.close()
    assert "draining +1.0 sim-h" in err.getvalue()


def test_simulate_writes_the_new_keys_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "out"
    code = main(
        ["simulate", "--nodes", "6", "--hours", "1", "--runs", "A,J", "--no-progress", "--output-dir", str(out)]
    )
    assert code == 0
    assert "perf turn p95 vs A" in capsys.readouterr().out
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert {
        "perf_turnaround_p95_s",
        "perf_turnaround_vs_a_p95_pct",
        "eco_pending_p99_s",
        "all_turnaround_mean_s",
    } <= set(runs[1])
    assert (out / "performance_pending.png").stat().st_size > 0
