"""Traces (generator, JSONL) and the ``joulie simulate`` command as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from joulie.cli import main
from simulator.workload import GeneratorConfig, TraceError, generate, read_jsonl, write_jsonl


def test_generator_follows_the_mix_and_the_day_night_cycle() -> None:
    jobs = generate(GeneratorConfig(hours=24, burst_share=0.0), cluster_cores=8000, cluster_gpus=0, seed=3)
    share = {d: sum(j.demand == d for j in jobs) / len(jobs) for d in ("performance", "eco", "general")}
    assert share["performance"] == pytest.approx(0.3, abs=0.03)
    assert share["eco"] == pytest.approx(0.2, abs=0.03)
    peak = sum(1 for j in jobs if 12 * 3600 <= j.arrival < 16 * 3600)
    trough = sum(1 for j in jobs if j.arrival < 4 * 3600)
    assert peak > 2 * trough
    assert all(j.gpus == 0 for j in jobs)
    gpu_jobs = generate(GeneratorConfig(hours=6), cluster_cores=8000, cluster_gpus=160, seed=3)
    assert any(j.gpus for j in gpu_jobs)


def test_trace_round_trips_and_bad_lines_are_named(tmp_path: Path) -> None:
    jobs = generate(GeneratorConfig(hours=1), 800, 0, seed=1)
    path = write_jsonl(jobs, tmp_path / "t.jsonl")
    assert read_jsonl(path) == jobs
    bad = tmp_path / "bad.jsonl"
    bad.write_text(path.read_text().splitlines()[0] + '\n{"id": "x", "arrival": -1}\n')
    with pytest.raises(TraceError, match=r"bad.jsonl:2: invalid job"):
        read_jsonl(bad)


def test_simulate_command_writes_results_and_names_the_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["simulate", "--nodes", "6", "--hours", "1", "--no-progress", "--output-dir", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "energy kWh" in text and f"results written to {out}/" in text
    for name in (
        "results.json",
        "results.csv",
        "jobs.csv",
        "trace.jsonl",
        "power.png",
        "energy_vs_slowdown.png",
        "performance_pending.png",
    ):
        assert (out / name).stat().st_size > 0, name
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert [r["run"] for r in runs] == ["A", "B", "C", "J"]
    assert runs[0]["energy_change_pct"] == 0.0

    # Replaying the written trace gives the same numbers.
    code = main(
        [
            "simulate",
            "--nodes",
            "6",
            "--hours",
            "1",
            "--json",
            "--no-plots",
            "--trace",
            str(out / "trace.jsonl"),
            "--output-dir",
            str(tmp_path / "again"),
        ]
    )
    again = json.loads(capsys.readouterr().out)["runs"]
    assert code == 0
    assert [r["energy_kwh"] for r in again] == [r["energy_kwh"] for r in runs]


def test_bad_flags_give_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["simulate", "--mix", "perf=0.3", "--output-dir", str(tmp_path)]) == 2
    assert "unknown class" in capsys.readouterr().err
    assert main(["simulate", "--joulie-param", "nope=1", "--output-dir", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["simulate", "--trace", str(tmp_path / "missing.jsonl"), "--output-dir", str(tmp_path)]) == 2
    assert "cannot read trace" in capsys.readouterr().err
