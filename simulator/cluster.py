"""The twin on your own cluster: the simulated fleet and its starting pods from a snapshot.

``joulie simulate --snapshot snap.yaml`` reads the same ``kubectl get nodes,pods -A -o yaml``
(or ``-o json``) output as ``joulie plan`` (:func:`labeller.snapshot.load_snapshot`):

- every schedulable node becomes a simulated server with its own name, labels (so the
  managed-node selector decides, as in the cluster) and allocatable CPU and GPUs. Power comes
  from the reference hardware model (:mod:`simulator.hardware`): a node runs like the reference
  server at the same share of its cores busy, with its own number of GPUs. Joulie's profile labels
  are dropped: every run starts from an unlabelled cluster;
- every active pod that requests CPU becomes a job of its class (the real classifier reads its
  spec), with its CPU and GPU requests: a running pod starts on its node at time 0, a pending one
  waits at time 0. How long they still run is not in a snapshot: they carry ``pod_seconds`` of work
  (by default the trace's length), the same in every run, so energies still compare equal work.

Control-plane nodes (``node-role.kubernetes.io/control-plane``: tainted for workloads), cordoned
nodes and the pods on them, nodes with no allocatable CPU and pods requesting no CPU are left out
and counted in :attr:`SnapshotCluster.notes`. Other taints, memory and pods' own affinities are not
modelled (see ``docs/simulator.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from joulie.core.selector import LabelSelector
from labeller.snapshot import load_snapshot
from simulator.engine import FleetNode
from simulator.hardware import A100_SXM, CPU_NODE, GPU_NODE, NodeClass
from simulator.workload import Job

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


class ClusterError(ValueError):
    """The snapshot cannot be simulated; the message says why."""


@dataclass
class SnapshotCluster:
    fleet: list[FleetNode]
    jobs: list[Job]
    """The snapshot's pods, all at time 0 (running ones with their node)."""
    managed: int
    """Nodes the managed-node selector matches."""
    notes: list[str] = field(default_factory=list)

    @property
    def cores(self) -> int:
        return sum(n.alloc_millis for n in self.fleet) // 1000

    @property
    def gpus(self) -> int:
        return sum(n.cls.gpus for n in self.fleet)


def _gpu_class(gpus: int) -> NodeClass:
    if gpus == GPU_NODE.gpus:
        return GPU_NODE
    return NodeClass(name=f"gpu-{gpus}xa100", cpu=GPU_NODE.cpu, gpu=A100_SXM, gpus=gpus)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def snapshot_cluster(path: str | Path, selector: LabelSelector, pod_seconds: float) -> SnapshotCluster:
    """The fleet and starting pods of the cluster in snapshot ``path`` (errors: :class:`ClusterError`,
    :class:`labeller.snapshot.SnapshotError`)."""
    snap = load_snapshot(path)
    view = snap.store.snapshot()
    fleet: list[FleetNode] = []
    cordoned: set[str] = set()
    no_cpu = 0
    control_plane = 0
    for name in sorted(view.nodes):
        node = view.nodes[name]
        if CONTROL_PLANE_LABEL in node.labels:
            # tainted NoSchedule by kubeadm and most distributions: no workload lands there
            control_plane += 1
            cordoned.add(name)
            continue
        if node.unschedulable:
            cordoned.add(name)
            continue
        if node.cpu_allocatable_millis <= 0:
            no_cpu += 1
            continue
        cls = _gpu_class(node.gpu_allocatable) if node.gpu_allocatable > 0 else CPU_NODE
        fleet.append(FleetNode(cls=cls, name=name, labels=dict(node.labels), alloc_millis=node.cpu_allocatable_millis))
    if not fleet:
        raise ClusterError(f"{path}: no schedulable node with allocatable CPU to simulate")
    names = {n.name for n in fleet}
    jobs: list[Job] = []
    skipped_pods = 0
    for pod in sorted(snap.store.pods(), key=lambda p: p.uid):
        if not pod.active or pod.node_name in cordoned:
            continue
        if pod.cpu_request_millis <= 0 or (pod.node_name is not None and pod.node_name not in names):
            skipped_pods += 1
            continue
        jobs.append(
            Job(
                id=f"{pod.namespace}/{pod.name}",
                arrival=0.0,
                demand=pod.demand,
                cpu_millis=pod.cpu_request_millis,
                gpus=pod.gpu_request,
                work_seconds=pod_seconds,
                node=pod.node_name,
            )
        )
    notes = []
    if control_plane:
        notes.append(f"{_plural(control_plane, 'control-plane node')} left out")
    if len(cordoned) > control_plane:
        notes.append(f"{_plural(len(cordoned) - control_plane, 'cordoned node')} left out")
    if no_cpu:
        notes.append(f"{_plural(no_cpu, 'node')} without allocatable CPU left out")
    if skipped_pods:
        notes.append(f"{_plural(skipped_pods, 'pod')} requesting no CPU (or on a node left out) not simulated")
    managed = sum(1 for n in fleet if selector.matches(n.labels))
    return SnapshotCluster(fleet, jobs, managed, notes)


__all__ = ["ClusterError", "SnapshotCluster", "snapshot_cluster"]
