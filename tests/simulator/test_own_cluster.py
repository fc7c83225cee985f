"""The twin on a user's own cluster: a snapshot of nodes and pods, a CSV of real jobs, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from joulie.cli import main
from joulie.core.selector import LabelSelector
from labeller.cli import example_snapshot_path
from simulator.cluster import snapshot_cluster
from simulator.csvtrace import read_csv
from simulator.engine import Simulation
from simulator.scenario import Scenario
from simulator.workload import TraceError
from tests.builders import node, pod

MANAGED = LabelSelector.parse("joulie.io/managed=true")


def write_csv(tmp_path: Path, text: str, name: str = "jobs.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- CSV traces


def test_a_csv_of_real_jobs_becomes_a_trace(tmp_path: Path):
    path = write_csv(
        tmp_path,
        "# exported from the batch system\n"
        "id,arrival,end,cpu,gpus,class\n"
        "train,2026-03-02T08:00:30Z,2026-03-02T09:00:30Z,8,1,performance\n"
        "etl,2026-03-02T08:00:00Z,2026-03-02T08:15:00Z,500m,,eco\n"
        ",2026-03-02T08:10:00Z,2026-03-02T08:11:00Z,2,0,\n",
    )
    jobs = read_csv(path)
    assert [(j.id, j.arrival, j.work_seconds, j.cpu_millis, j.gpus, j.demand) for j in jobs] == [
        ("etl", 0.0, 900.0, 500, 0, "eco"),
        ("train", 30.0, 3600.0, 8000, 1, "performance"),
        ("row-5", 600.0, 60.0, 2000, 0, "general"),
    ]
    seconds = read_csv(write_csv(tmp_path, "\ufeffArrival,Duration,CPU\n0,60,4\n5.5,120,1\n", "s.csv"))
    assert [(j.arrival, j.work_seconds) for j in seconds] == [(0.0, 60.0), (5.5, 120.0)]


@pytest.mark.parametrize(
    "text, message",
    [
        ("arrival,duration,cpu\n0,60,four\n", r"jobs.csv:2: cpu: 'four' is not a CPU quantity"),
        ("arrival,duration,cpu\n-5,60,1\n", r"jobs.csv:2: arrival: '-5' must be a finite number"),
        ("arrival,duration,cpu\n0,0,1\n", r"jobs.csv:2: duration: '0' must be more than 0 seconds"),
        ("arrival,duration,cpu,class\n0,60,1,batch\n", r"jobs.csv:2: class: 'batch' is not one of"),
        ("arrival,duration,cpu,gpus\n0,60,1,1.5\n", r"jobs.csv:2: gpus: '1.5' is not a whole number"),
        ("arrival,duration,cpu\n0,60\n", r"jobs.csv:2: 2 fields, the header has 3"),
        ("arrival,cpu\n0,1\n", r"jobs.csv:1: missing column\(s\): duration or end"),
        ("arrival,duration,cpu,memory\n0,1,1,1Gi\n", r"jobs.csv:1: unknown column\(s\) \['memory'\]"),
        ("arrival,duration,end,cpu\n0,60,70,1\n", r"jobs.csv:2: give exactly one of duration and end"),
        ("arrival,end,cpu\n100,50,1\n", r"jobs.csv:2: end: the job ends before it arrives"),
        ("arrival,duration,cpu\n0,60,1\n2026-03-02T08:00:00Z,60,1\n", r"jobs.csv:3: arrival: mixes timestamps"),
        ("id,arrival,duration,cpu\na,0,60,1\na,1,60,1\n", r"jobs.csv:3: id: duplicate job id 'a'"),
        ("arrival,duration,cpu\n", r"jobs.csv: no jobs after the header"),
        ("", r"jobs.csv: no header row"),
    ],
)
def test_bad_csv_rows_are_named(tmp_path: Path, text: str, message: str):
    with pytest.raises(TraceError, match=message):
        read_csv(write_csv(tmp_path, text))


# ---------------------------------------------------------------- snapshots


def snapshot_file(tmp_path: Path) -> Path:
    gpu = node("gpu-1", cpu="64")
    gpu["status"]["allocatable"]["nvidia.com/gpu"] = "4"
    cordoned = node("w-cordoned", unschedulable=True)
    control = node("cp", managed=False, **{"node-role.kubernetes.io/control-plane": ""})
    items = [
        node("w-1", "performance", False, cpu="16"),
        node("w-2", cpu="16"),
        node("other", managed=False, cpu="8"),
        gpu,
        cordoned,
        control,
        pod("running-perf", "w-1", "performance", cpu="4"),
        pod("running-eco", "w-2", "eco", cpu="2"),
        pod("waiting", None, "performance", cpu="8", unschedulable=True),
        pod("on-cordoned", "w-cordoned", cpu="1"),
        pod("tiny", "w-2", cpu="0"),
    ]
    path = tmp_path / "snap.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def test_a_snapshot_becomes_the_simulated_cluster(tmp_path: Path):
    cluster = snapshot_cluster(snapshot_file(tmp_path), MANAGED, pod_seconds=600.0)
    by_name = {n.name: n for n in cluster.fleet}
    assert sorted(by_name) == ["gpu-1", "other", "w-1", "w-2"]
    assert by_name["w-1"].alloc_millis == 16000 and by_name["gpu-1"].cls.gpus == 4
    assert by_name["w-1"].labels["joulie.io/power-profile"] == "performance"  # dropped when the run starts
    assert cluster.managed == 3  # "other" does not match the managed-node selector
    assert {(j.id, j.demand, j.node, j.cpu_millis) for j in cluster.jobs} == {
        ("default/running-perf", "performance", "w-1", 4000),
        ("default/running-eco", "eco", "w-2", 2000),
        ("default/waiting", "performance", None, 8000),
    }
    assert any("cordoned" in n for n in cluster.notes) and any("control-plane" in n for n in cluster.notes)


def test_snapshot_pods_start_on_their_nodes_and_waiting_ones_wait(tmp_path: Path):
    cluster = snapshot_cluster(snapshot_file(tmp_path), MANAGED, pod_seconds=600.0)
    scenario = Scenario(runs=("J",))
    (spec,) = scenario.specs()
    sim = Simulation(spec, cluster.fleet, cluster.jobs, 3600.0, 1, scenario.engine())
    result = sim.run()
    starts = {j.id: (j.node, j.start) for j in result.jobs}
    assert starts["default/running-perf"] == ("w-1", 0.0) and starts["default/running-eco"] == ("w-2", 0.0)
    assert result.unfinished == 0
    waiting = next(j for j in result.jobs if j.id == "default/waiting")
    assert waiting.start >= 0.0 and waiting.start_profile in ("performance", "unmanaged")
    assert "joulie.io/power-profile" not in dict(sim.by_name["other"].labels)  # unmanaged: never labelled


def test_a_node_of_another_size_runs_like_the_reference_server_at_the_same_share():
    from simulator.engine import FleetNode, RunSpec
    from simulator.hardware import CPU_NODE
    from simulator.workload import Job

    small = FleetNode(CPU_NODE, "small", {"kubernetes.io/hostname": "small"}, alloc_millis=16000)
    full = [Job(id="j", arrival=0.0, demand="general", cpu_millis=16000, work_seconds=600.0)]
    result = Simulation(RunSpec("A", "a", None), [small], full, 600.0, 1).run()
    assert result.energy_j == pytest.approx(CPU_NODE.cpu.spec_curve_watts[-1] * 600.0)  # 100 % busy


def test_simulate_on_a_snapshot_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "out"
    args = ["--snapshot", example_snapshot_path(), "--hours", "1", "--json", "--no-plots", "--output-dir", str(out)]
    code = main(["simulate", *args])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["meta"]["snapshot"] == example_snapshot_path()
    assert "nodes from" in result["meta"]["cluster"]
    assert [r["run"] for r in result["runs"]] == ["A", "B", "C", "J"]
    assert all(r["unfinished"] == 0 for r in result["runs"])


# ---------------------------------------------------------------- bad input


def simulate(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "joulie",
            "simulate",
            *args,
            "--no-progress",
            "--no-plots",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--nodes", "0"], "--nodes: Input should be greater than or equal to 1"),
        (["--hours", "-2"], "--hours: Input should be greater than 0"),
        (["--load", "1.5"], "--load: Input should be less than or equal to 1"),
        (["--load", "0"], "--load: Input should be greater than 0"),
        (["--mix", "gpu=0.5"], "--mix: unknown class(es) ['gpu']"),
        (["--joulie-policy", "greedy"], "--joulie-policy: unknown policy 'greedy'"),
        (["--trace", "corrupt.jsonl"], "corrupt.jsonl:2: not JSON"),
        (["--trace", "bad.csv"], "bad.csv:2: cpu: 'x' is not a CPU quantity"),
        (["--snapshot", "empty.yaml"], "no Node objects found"),
        (["--snapshot", "unmanaged.yaml"], "none of its 1 nodes match the managed-node selector"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path: Path, args: list[str], message: str):
    (tmp_path / "corrupt.jsonl").write_text(
        '{"id": "a", "arrival": 0, "demand": "eco", "cpu_millis": 1, "work_seconds": 1}\n{not json\n'
    )
    (tmp_path / "bad.csv").write_text("arrival,duration,cpu\n0,60,x\n")
    (tmp_path / "empty.yaml").write_text("kind: List\nitems: []\n")
    (tmp_path / "unmanaged.yaml").write_text(yaml.safe_dump({"kind": "List", "items": [node("n", managed=False)]}))
    args = [str(tmp_path / a) if a.endswith((".jsonl", ".csv", ".yaml")) else a for a in args]
    out = simulate(*args, tmp_path=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_a_snapshot_without_managed_nodes_still_runs_unmanaged(tmp_path: Path):
    path = tmp_path / "unmanaged.yaml"
    path.write_text(yaml.safe_dump({"kind": "List", "items": [node("n", managed=False, cpu="8")]}))
    out = simulate("--snapshot", str(path), "--runs", "A", "--hours", "0.5", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "1 nodes from" in out.stdout and "0 managed" in out.stdout


def test_a_csv_trace_longer_than_hours_runs_to_its_end(tmp_path: Path):
    """A trace longer than --hours extends the horizon: every job of a two-day CSV runs."""
    rows = "".join(f"{h * 3600},600,4,0,performance\n" for h in range(0, 48, 6))
    path = write_csv(tmp_path, "arrival,duration,cpu,gpus,class\n" + rows)
    out = simulate("--trace", str(path), "--nodes", "2", "--hours", "1", "--json", "--runs", "A,J", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    runs = json.loads(out.stdout)["runs"]
    assert all(r["completed"] == 8 and r["unfinished"] == 0 for r in runs)
