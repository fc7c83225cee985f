"""Measure the live runtime against kmock: cache sync time and steady-state writes per tick.

    python -m tests.kube.bench_sync --nodes 500 --pods 10000 --ticks 5

Objects are put straight into the emulator's memory (no watch events), then a
:class:`KubeRuntime` lists them over HTTP exactly as it would from an API server.
kmock serves every list in one page (it ignores ``limit``), so this measures the
client side: HTTP transfer, orjson parsing and reduction into the store.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from tests.builders import node, pod
from tests.kube.conftest import KmockCluster
from tests.kube.helpers import runtime


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=500)
    p.add_argument("--pods", type=int, default=10000)
    p.add_argument("--ticks", type=int, default=5)
    p.add_argument(
        "--sync-only",
        action="store_true",
        help="stop after the caches synced (kmock answers writes in O(objects), slow at scale)",
    )
    args = p.parse_args()
    cluster = KmockCluster()
    try:
        names = [f"bench-{i:05d}" for i in range(args.nodes)]
        nodes = []
        for name in names:
            obj = node(name)
            obj["metadata"]["labels"]["joulie.io/test-run"] = cluster.run_id
            nodes.append(obj)
        demands = ("performance", "general", "general", "eco")
        pods = [pod(f"bench-p{i}", names[i % len(names)] if i % 10 else None, demands[i % 4]) for i in range(args.pods)]
        cluster.seed("v1/nodes", None, nodes)
        cluster.seed("v1/pods", "default", pods)

        rt = runtime(cluster, interval=3600)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        rt.start_informers()
        assert rt.wait_synced(300), rt.ready()
        synced = time.perf_counter() - started

        if args.sync_only:
            print(
                json.dumps(
                    {
                        "nodes": args.nodes,
                        "pods": args.pods,
                        "syncSeconds": round(synced, 3),
                        "maxRssMiBDelta": round(
                            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024, 1
                        ),
                    }
                )
            )
            for inf in rt.informers:
                inf.stop()
            return
        started = time.perf_counter()
        first = rt.reconcile_once("first")
        first_seconds = time.perf_counter() - started
        assert first is not None
        time.sleep(1.0)  # let the echoes of our writes arrive
        writes_before = cluster.writes()
        tick_seconds = []
        tick_writes = []
        for _ in range(args.ticks):
            t = time.perf_counter()
            result = rt.reconcile_once("tick")
            tick_seconds.append(time.perf_counter() - t)
            tick_writes.append(result.write_count if result else None)
        time.sleep(0.3)
        print(
            json.dumps(
                {
                    "nodes": args.nodes,
                    "pods": args.pods,
                    "syncSeconds": round(synced, 3),
                    "firstReconcileSeconds": round(first_seconds, 3),
                    "firstReconcileWrites": first.writes,
                    "steadyTickWrites": tick_writes,
                    "steadyHttpWrites": cluster.writes() - writes_before,
                    "steadyTickSecondsMax": round(max(tick_seconds), 4),
                    "maxRssMiBDelta": round(
                        (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024, 1
                    ),
                }
            )
        )
        for inf in rt.informers:
            inf.stop()
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    main()
