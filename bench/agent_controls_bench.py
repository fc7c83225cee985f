"""Agent benchmark: every control beyond the cap applied on a 224-CPU node, then verified, then restored.

A 2-socket Xeon with 224 logical CPUs (intel_pstate with EPP, intel_idle POLL/C1/C1E/C6,
2 uncore dies, RAPL): a realistic sysfs tree in a temporary directory (plain files, so the
figures measure the agent's own work: discovery, planning, transactions with read-back and
the originals file, not the kernel's).

    python bench/agent_controls_bench.py [--cpus 224] [--repeat 5]

Prints its figures (median of --repeat runs, each on a fresh tree).
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
from agent.engine import Engine, EngineConfig
from agent.state import OriginalsStore
from agent.sysfs import Sysfs
from joulie.api.v1alpha1 import NodePowerProfile
from tests.agent.hw import FakePynvml, intel_server, snapshot

ECO = {
    "packagePowerCapWatts": 120,
    "governor": "powersave",
    "epp": "balance_power",
    "frequency": {"minPct": 0, "maxPct": 70},
    "cstates": {"names": {"C1E": True, "C6": True}, "maxLatencyUs": 100},
    "uncore": {"maxPct": 60},
}


def one_run(cpus: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sys"
        root.mkdir()
        intel_server(root, cpus=cpus)
        before = snapshot(root)
        engine = Engine(
            Sysfs(root), OriginalsStore.in_dir(Path(tmp) / "state"), Nvml(FakePynvml()), EngineConfig(node_name="n1")
        )
        prof = NodePowerProfile.model_validate(
            {"metadata": {"name": "node-n1", "generation": 1}, "spec": {"nodeName": "n1", "profile": "eco", "cpu": ECO}}
        )
        t0 = time.perf_counter()
        first = engine.reconcile(prof)
        t1 = time.perf_counter()
        again = engine.reconcile(prof)
        t2 = time.perf_counter()
        engine.restore_all()
        t3 = time.perf_counter()
        if not first.ok or again.wrote or snapshot(root) != before:
            raise SystemExit(f"benchmark run is wrong: ok={first.ok} rewrites={again.wrote} restored-differs")
        return {"apply": t1 - t0, "verify": t2 - t1, "restore": t3 - t2, "writes": float(first.wrote)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpus", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    runs = [one_run(args.cpus) for _ in range(args.repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"{args.cpus} CPUs, every control (cap, governor, EPP, frequency, C-states, uncore), {args.repeat} runs")
    print(f"values written on apply: {med['writes']:.0f}")
    print(f"apply (discover, plan, save originals, write, read back): median {med['apply'] * 1000:.0f} ms")
    print(f"verify pass (nothing to write): median {med['verify'] * 1000:.0f} ms")
    print(f"restore every original: median {med['restore'] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
