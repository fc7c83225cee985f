"""Labeller benchmark: plan computation at 5000 nodes / 150k pods, cache memory, steady-state writes.

Targets (issue 2): plan <= 200 ms, cache memory <= 500 MB, 0 writes per tick in steady state.
With a PowerCappingPolicy (a cluster limit and 100 rack limits) over every node's power reading,
the same tick is timed again and its steady-state writes counted (target: 0 once converged).

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


def budget_ticks(
    store: ClusterStore, profiles: ProfileCache, cluster: InMemoryCluster, planner: Planner, repeat: int
) -> tuple[list[float], list[int]]:
    """Reconcile ticks under a budget that binds, every node reporting a steady 380 W of packages."""
    from datetime import UTC, datetime

    from labeller.budgets.source import CachedBudgetSource, PolicyCache

    now = time.time()
    names = sorted(store.snapshot().nodes)
    racks = {n: f"rack-{i // 50:03d}" for i, n in enumerate(names)}
    for name in names:
        info = store.node(name)
        assert info is not None
        store.upsert_node(
            {
                "metadata": {"name": name, "labels": {**info.labels, "topology.joulie.io/rack": racks[name]}},
                "status": {"allocatable": {"cpu": str(info.cpu_allocatable_millis // 1000), "pods": "110"}},
            }
        )
    policy = {
        "metadata": {"name": "bench"},
        "spec": {
            "powerCapLimit": 0.6 * 480 * len(names),
            "rackConstraints": [{"rackId": r, "maxPower": 50 * 450} for r in sorted(set(racks.values()))],
            "telemetry": {"nodeOverheadWatts": 100},
        },
    }
    policies = PolicyCache()
    policies.replace([policy])
    cluster.policies = policies
    rec = Reconciler(store, profiles, planner, cluster, budgets=CachedBudgetSource(policies), clock=lambda: now)

    def report() -> None:
        at = datetime.fromtimestamp(now, UTC).isoformat()
        for o in profiles.items():
            power = {
                "measuredAt": at,
                "packages": 2,
                "packageWatts": 380.0,
                "packageCapMinWatts": 27.0,
                "packageCapMaxWatts": 270.0,
                "packageFloorWatts": 40.0,
            }
            profiles.upsert(
                {
                    "metadata": {"name": o.name, "annotations": dict(o.annotations)},
                    "spec": dict(o.spec or {}),
                    "status": {"power": power},
                }
            )

    rec.reconcile("startup")
    report()
    for _ in range(3):  # converge: the caps land, the status settles
        rec.reconcile("tick")
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        rec.reconcile("tick")
        times.append((time.perf_counter() - t) * 1000)
    return times, [rec.reconcile("tick").write_count for _ in range(3)]


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

    gc.collect()
    gc.freeze()  # as joulie serve does once its caches are loaded: full collections skip them
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

    budget_ms, budget_steady = budget_ticks(store, profiles, cluster, planner, args.repeat)

    p50 = statistics.median(plan_ms)
    worst = max(plan_ms)
    print(f"cluster: {args.nodes} nodes, {args.pods} pods")
    print(f"ingest (classify + index, from raw API dicts): {ingest_s:.2f} s ({ingest_s / args.pods * 1e6:.1f} us/pod)")
    print(f"cache memory (tracemalloc, store only): {cache_mb:.1f} MB   target <= 500 MB")
    print(f"plan computation: p50 {p50:.1f} ms, max {worst:.1f} ms over {args.repeat}   target <= 200 ms")
    print(f"full reconcile tick (plan + diff, no writes): p50 {statistics.median(tick_ms):.1f} ms")
    print(f"writes: first pass {first.write_count}, steady-state ticks {steady}   target 0")
    no_budget = statistics.median(tick_ms)
    with_budget = statistics.median(budget_ms)
    print(
        f"reconcile tick with a PowerCappingPolicy (cluster + 100 racks, {args.nodes} readings): "
        f"p50 {with_budget:.1f} ms, max {max(budget_ms):.1f} ms ({with_budget / no_budget:.2f}x the tick without)"
    )
    print(f"budget writes once converged: {budget_steady}   target 0")
    ok = p50 <= 200 and cache_mb <= 500 and all(w == 0 for w in steady) and all(w == 0 for w in budget_steady)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
