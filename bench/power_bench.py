"""Power-aware scoring benchmark: /prioritize with ``--power-aware-scoring`` versus without, in one run.

Two ``joulie serve`` processes on the same generated snapshot (the cluster of
``bench/extender_bench.py``: N managed nodes, half performance), one with power-aware
scoring (the default parametric predictor), one without; the same names-mode bodies
go to both from one sequential keep-alive client, alternating in blocks of 20, so
machine noise hits both alike. Two workloads:

- ``steady``: the same pod every request (the scheduler's stream of identical pods:
  both servers answer from their per-pod-size tables);
- ``cold``: a different CPU request on every request, so both servers rebuild their
  per-size tables on every request (the worst case of a cluster whose pods all differ);
- ``churn`` (in-process, server-side time only): a pod is bound between any two requests,
  so both scorers rebuild from a new cluster state every time (a busy cluster).

Target (issue 12): prioritize p99 with power-aware scoring within 1.5x of without,
at 5000 names. Exit 1 when missed, 2 when a server could not be started.

    python bench/power_bench.py                    # 5000 nodes, 400 requests per workload
    python bench/power_bench.py --nodes 500 5000 --requests 1000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extender_bench import ROOT, free_port, measure, node_name, pct, performance_pod, wait_ready, write_snapshot

P99_RATIO_TARGET = 1.5


def names_body(n: int, cpu_millis: int) -> bytes:
    pod = performance_pod()
    pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = f"{cpu_millis}m"
    return json.dumps({"Pod": pod, "Nodes": None, "NodeNames": [node_name(i) for i in range(n)]}).encode()


def serve(snapshot: Path, port: int, power: bool) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "joulie", "serve", "--snapshot", str(snapshot), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--policy", "static_partition", "--policy-param", "hp_frac=0.5"]
    cmd += ["--log-level", "warning"] + (["--power-aware-scoring"] if power else [])
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def check(reply: bytes, n: int) -> None:
    data = json.loads(reply)
    assert len(data) == n and all(isinstance(h["Score"], int) and 0 <= h["Score"] <= 10 for h in data)


def churn(n: int, requests: int) -> dict[str, list[float]]:
    """Server-side seconds of prioritize when the store changed since the previous request."""
    import orjson

    from extender.power import PowerScores
    from extender.service import ExtenderService
    from extender.wire import parse_args
    from joulie.core.model import PodInfo
    from labeller.config import PlannerConfig
    from labeller.planner import Planner
    from labeller.runtime import SnapshotRuntime
    from labeller.snapshot import load_snapshot

    with tempfile.TemporaryDirectory() as tmp:
        snap_path = Path(tmp) / "snapshot.json"
        write_snapshot(snap_path, n)
        snap = load_snapshot(str(snap_path))
    rt = SnapshotRuntime(
        snap.store, snap.profiles, Planner(PlannerConfig(policy="static_partition", policy_params={"hp_frac": 0.5}))
    )
    rt.start()
    services = {"off": ExtenderService(rt), "on": ExtenderService(rt, power=PowerScores())}
    body = names_body(n, 500)
    times: dict[str, list[float]] = {"off": [], "on": []}
    for k in range(requests):
        for name, svc in services.items():
            rt.store.put_pod(
                PodInfo(
                    uid=f"churn-{name}-{k}",
                    namespace="default",
                    name=f"c{k}",
                    demand="general",
                    node_name=node_name(k % n),
                    phase="Running",
                    cpu_request_millis=100,
                )
            )
            args = parse_args(body)  # parsing is the same for both; time the decision and the reply
            t0 = time.perf_counter()
            reply = svc.prioritize(args)
            times[name].append(time.perf_counter() - t0)
            assert len(orjson.loads(reply)) == n
    return times


def run(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for n in args.nodes:
        with tempfile.TemporaryDirectory() as tmp:
            snap = Path(tmp) / "snapshot.json"
            write_snapshot(snap, n)
            ports = {"off": free_port(), "on": free_port()}
            procs = {name: serve(snap, port, name == "on") for name, port in ports.items()}
            try:
                for name, proc in procs.items():
                    wait_ready(ports[name], "/readyz", proc)
                targets = [(name, port, "/scheduler/prioritize") for name, port in ports.items()]
                for workload in ("steady", "cold"):
                    times: dict[str, list[float]] = {"off": [], "on": []}
                    if workload == "steady":
                        for name, (t, reply) in measure(
                            targets, names_body(n, 500), args.requests, args.warmup
                        ).items():
                            check(reply, n)
                            times[name] = t
                    else:
                        # a new CPU request every request: 1000m, 1001m, ... never seen before by either server
                        for k in range(args.requests + args.warmup):
                            body = names_body(n, 1000 + k)
                            for name, (t, reply) in measure(targets, body, 1, 0, block=1).items():
                                if k >= args.warmup:
                                    times[name] += t
                                check(reply, n)
                    row = {"nodes": n, "workload": workload, "requests": args.requests}
                    for name in ("off", "on"):
                        row[f"{name}P50Ms"] = round(pct(times[name], 0.50), 3)
                        row[f"{name}P99Ms"] = round(pct(times[name], 0.99), 3)
                    row["ratioP50"] = round(row["onP50Ms"] / row["offP50Ms"], 3)
                    row["ratioP99"] = round(row["onP99Ms"] / row["offP99Ms"], 3)
                    rows.append(row)
                    print(
                        f"{n:>5} names {workload:<6} prioritize  off p50 {row['offP50Ms']:7.2f} ms p99 "
                        f"{row['offP99Ms']:7.2f} ms | power-aware p50 {row['onP50Ms']:7.2f} ms p99 "
                        f"{row['onP99Ms']:7.2f} ms | ratio p50 {row['ratioP50']:.2f} p99 {row['ratioP99']:.2f}",
                        flush=True,
                    )
            finally:
                for proc in procs.values():
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
        times = churn(n, max(20, args.requests // 5))
        row = {"nodes": n, "workload": "churn", "requests": len(times["on"])}
        for name in ("off", "on"):
            row[f"{name}P50Ms"] = round(pct(times[name], 0.50), 3)
            row[f"{name}P99Ms"] = round(pct(times[name], 0.99), 3)
        row["ratioP50"] = round(row["onP50Ms"] / row["offP50Ms"], 3)
        row["ratioP99"] = round(row["onP99Ms"] / row["offP99Ms"], 3)
        rows.append(row)
        print(
            f"{n:>5} names churn  prioritize  off p50 {row['offP50Ms']:7.2f} ms p99 {row['offP99Ms']:7.2f} ms | "
            f"power-aware p50 {row['onP50Ms']:7.2f} ms p99 {row['onP99Ms']:7.2f} ms | ratio p50 "
            f"{row['ratioP50']:.2f} p99 {row['ratioP99']:.2f}  (server-side, in-process)",
            flush=True,
        )
    missed = [
        f"{r['workload']} at {r['nodes']} names: p99 ratio {r['ratioP99']} > {P99_RATIO_TARGET}"
        for r in rows
        if r["nodes"] >= 5000 and r["ratioP99"] > P99_RATIO_TARGET
    ]
    if args.json:
        Path(args.json).write_text(json.dumps({"results": rows, "missed": missed}, indent=2))
    for m in missed:
        print(f"MISSED: {m}")
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, nargs="+", default=[5000])
    p.add_argument("--requests", type=int, default=400, help="timed requests per workload")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    try:
        return run(p.parse_args(argv))
    except RuntimeError as exc:
        print(f"power_bench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
