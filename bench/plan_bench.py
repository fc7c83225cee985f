"""Labeller benchmark: plan computation at 5000 nodes / 150k pods, cache memory, steady-state writes.

Targets (issue 2): plan <= 200 ms, cache memory <= 500 MB, 0 writes per tick in steady state.

    python bench/plan_bench.py [--nodes 5000] [--pods 150000] [--repeat 10]

Prints its figures; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from joulie.core.store import ClusterStore
from labeller.config import PlannerConfig
from labeller.memory import InMemoryCluster
from labeller.planner import Planner
from labeller.reconciler import ProfileCache, Reconciler

KEY = "joulie.io/power-profile"


def nodes(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "kind": "Node",
            "metadata": {
                "name": f"node-{i:05d}",
                "uid": f"n-{i}",
                "labels": {
                    "joulie.io/managed": "true",
                    "kubernetes.io/hostname": f"node-{i:05d}",
                    "topology.kubernetes.io/zone": f"zone-{i % 3}",
                    "node.kubernetes.io/instance-type": "m6i.16xlarge",
                },
            },
            "spec": {},
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "110"},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "110"},
            },
        }


def pods(n: int, n_nodes: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    perf = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": KEY, "operator": "NotIn", "values": ["eco"]}]}]
            }
        }
    }
    eco = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": KEY, "operator": "In", "values": ["eco"]},
                            {"key": "joulie.io/draining", "operator": "NotIn", "values": ["true"]},
                        ]
                    }
                ]
            }
        }
    }
    for i in range(n):
        r = rng.random()
        spec: dict[str, Any] = {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/app:1.0",
                    "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
                }
            ],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}],
        }
        if r < 0.2:
            spec["affinity"] = perf
        elif r < 0.35:
            spec["affinity"] = eco
        pending = rng.random() < 0.02
        if not pending:
            spec["nodeName"] = f"node-{rng.randrange(n_nodes):05d}"
        created = time.gmtime(time.time() - rng.uniform(0, 86400))  # arrivals over the last day
        yield {
            "kind": "Pod",
            "metadata": {
                "name": f"pod-{i}",
                "namespace": f"ns-{i % 200}",
                "uid": f"uid-{i:08d}",
                "labels": {"app": f"app-{i % 500}"},
                "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", created),
            },
            "spec": spec,
            "status": {"phase": "Pending" if pending else "Running"},
        }


def build(n_nodes: int, n_pods: int) -> ClusterStore:
    store = ClusterStore()
    store.replace_nodes(nodes(n_nodes))
    store.replace_pods(pods(n_pods, n_nodes, random.Random(42)))
    return store


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=150_000)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    store = build(args.nodes, args.pods)
    gc.collect()
    cache_mb = (tracemalloc.get_traced_memory()[0] - base) / 2**20
    tracemalloc.stop()
    del store
    gc.collect()

    t0 = time.perf_counter()
    store = build(args.nodes, args.pods)
    ingest_s = time.perf_counter() - t0

    profiles = ProfileCache()
    cluster = InMemoryCluster(store, profiles)
    planner = Planner(PlannerConfig(policy="queue_aware_v1"))
    rec = Reconciler(store, profiles, planner, cluster)

    plan_ms = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        rec.compute_plan()
        plan_ms.append((time.perf_counter() - t) * 1000)

    first = rec.reconcile("startup")
    steady = [rec.reconcile("tick").write_count for _ in range(5)]
    # one pod event between ticks: a pod finishing elsewhere must not cause writes either
    store.delete_pod("uid-00000007")
    steady.append(rec.reconcile("tick").write_count)

    tick_ms = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        rec.reconcile("tick")
        tick_ms.append((time.perf_counter() - t) * 1000)

    p50 = statistics.median(plan_ms)
    worst = max(plan_ms)
    print(f"cluster: {args.nodes} nodes, {args.pods} pods")
    print(f"ingest (classify + index, from raw API dicts): {ingest_s:.2f} s ({ingest_s / args.pods * 1e6:.1f} us/pod)")
    print(f"cache memory (tracemalloc, store only): {cache_mb:.1f} MB   target <= 500 MB")
    print(f"plan computation: p50 {p50:.1f} ms, max {worst:.1f} ms over {args.repeat}   target <= 200 ms")
    print(f"full reconcile tick (plan + diff, no writes): p50 {statistics.median(tick_ms):.1f} ms")
    print(f"writes: first pass {first.write_count}, steady-state ticks {steady}   target 0")
    ok = p50 <= 200 and cache_mb <= 500 and all(w == 0 for w in steady)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
