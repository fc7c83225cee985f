"""Agent benchmark: pod power profiles on a 224-CPU node, with the kubelet's PodResources API over gRPC.

A 2-socket Xeon with 224 logical CPUs (intel_pstate with EPP, intel_idle, RAPL) in a temporary
directory, 4 CPUs reserved, and --pods Guaranteed pods of --cpus-per-pod exclusive CPUs each,
spread over the four sample profiles, listed by a PodResources gRPC server on a Unix socket
(the generated stubs). Measured per run: the kubelet List call, the first pass (every pod's
profile applied), a verify pass (nothing to write), the pass after half the pods left (their
cores back to the shared pool) and the restore.

    python bench/agent_pod_profiles_bench.py [--cpus 224] [--pods 50] [--cpus-per-pod 4] [--repeat 5]

Prints its figures (median and maximum of --repeat runs, each on a fresh tree).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.backends.nvml import Nvml
from agent.engine import Engine, EngineConfig, PodCoresInput
from agent.podresources.client import PodResourcesClient
from agent.state import OriginalsStore
from agent.sysfs import Sysfs
from joulie.api.v1alpha1 import NodePowerProfile
from tests.agent.hw import FakePynvml, intel_server, snapshot
from tests.agent.kubelet import Kubelet, PodAllocation
from tests.agent.podfixtures import PROFILE_NAMES, container, pod, sample_profiles

RESERVED = frozenset(range(4))


def one_run(cpus: int, pods: int, per_pod: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sys"
        root.mkdir()
        intel_server(root, cpus=cpus)
        before = snapshot(root)
        kubelet = Kubelet(Path(tmp) / "kubelet.sock").start()
        try:
            objs, allocs = [], []
            for i in range(pods):
                first = len(RESERVED) + i * per_pod
                profile = PROFILE_NAMES[i % len(PROFILE_NAMES)]
                objs.append(pod(f"p{i}", "bench", container("c", str(per_pod), **{profile.replace("-", "_"): per_pod})))
                allocs.append(PodAllocation("bench", f"p{i}", {"c": list(range(first, first + per_pod))}))
            kubelet.set(*allocs)
            client = PodResourcesClient(str(kubelet.socket_path))
            engine = Engine(
                Sysfs(root),
                OriginalsStore.in_dir(Path(tmp) / "state"),
                Nvml(FakePynvml()),
                EngineConfig(node_name="n1", reserved_cpus=RESERVED),
            )
            prof = NodePowerProfile.model_validate(
                {
                    "metadata": {"name": "node-n1", "generation": 1},
                    "spec": {
                        "nodeName": "n1",
                        "profile": "eco",
                        "cpu": {"packagePowerCapWatts": 120, "epp": "balance_power"},
                    },
                }
            )
            profiles = sample_profiles()
            t0 = time.perf_counter()
            snap = client.poll()
            t1 = time.perf_counter()
            first = engine.reconcile(prof, pods=PodCoresInput(objs, profiles, snap))
            t2 = time.perf_counter()
            again = engine.reconcile(prof, pods=PodCoresInput(objs, profiles, client.poll()))
            t3 = time.perf_counter()
            kubelet.set(*allocs[: pods // 2])
            half = engine.reconcile(prof, pods=PodCoresInput(objs[: pods // 2], profiles, client.poll()))
            t4 = time.perf_counter()
            engine.restore_all()
            t5 = time.perf_counter()
            client.close()
        finally:
            kubelet.stop()
        applied = [c for c in first.status.pod_profiles.containers or [] if c.result == "applied"]
        if not first.ok or len(applied) != pods or again.wrote or not half.ok or snapshot(root) != before:
            raise SystemExit(
                f"benchmark run was wrong: ok={first.ok} applied={len(applied)}/{pods} verify wrote={again.wrote}"
            )
        return {
            "list": (t1 - t0) * 1000,
            "apply": (t2 - t1) * 1000,
            "verify": (t3 - t2) * 1000,
            "half-left": (t4 - t3) * 1000,
            "restore": (t5 - t4) * 1000,
            "written": first.wrote,
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpus", type=int, default=224)
    ap.add_argument("--pods", type=int, default=50)
    ap.add_argument("--cpus-per-pod", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    if len(RESERVED) + a.pods * a.cpus_per_pod > a.cpus:
        ap.error("the pods need more CPUs than the node has")
    runs = [one_run(a.cpus, a.pods, a.cpus_per_pod) for _ in range(a.repeat)]
    print(
        f"{a.cpus} CPUs, {len(RESERVED)} reserved, {a.pods} pods x {a.cpus_per_pod} exclusive CPUs, "
        f"{a.repeat} runs (median / max, ms):"
    )
    for key in ("list", "apply", "verify", "half-left", "restore"):
        vals = [r[key] for r in runs]
        print(f"  {key:10s} {statistics.median(vals):8.1f} / {max(vals):8.1f}")
    print(f"values written on apply: {int(runs[0]['written'])} (the verify pass writes 0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
