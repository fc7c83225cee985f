"""The simulation engine: simulated hardware and clock, Joulie's real decisions.

What is simulated: nodes (power, speed, energy), the clock, pods' run times and a
model of kube-scheduler (:mod:`simulator.scheduler`). What is *not*: every decision
Joulie makes runs through the production objects, wired as in a cluster:

- pods enter a :class:`joulie.core.store.ClusterStore` as Pod API objects (so
  :func:`joulie.core.classify.classify_pod` classifies them), nodes as Node records;
- a :class:`labeller.reconciler.Reconciler` with a :class:`labeller.planner.Planner`
  plans at the labeller's interval and writes through
  :class:`labeller.memory.InMemoryCluster`, so labels land back in the store and
  NodePowerProfiles in the profile cache, as a watch would deliver them;
- the simulated agent reads each node's NodePowerProfile and applies its caps;
- with a power budget (:mod:`simulator.budget`), the labeller's budget controller runs on a
  PowerCappingPolicy and the simulated agents report each node's power into its
  NodePowerProfile status every agent interval, as the node agent does;
- with the extender configured, placement calls :mod:`joulie.core.supply`; performance
  pods with nowhere to go (no node left by the scheduler's filters or the extender's)
  are marked ``Unschedulable`` in the store, as kube-scheduler marks them, and
  trigger an immediate reconcile (:mod:`labeller.feedback`).

Time advances in fixed steps (scheduling and reconciles happen at step boundaries);
within a step each node is event-driven: its power and speeds are constant between
job completions, so energy and completion times are exact, not sampled.
"""

from __future__ import annotations

import heapq
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import NamedTuple

import joulie.core.supply as decide
from joulie.api.labels import DRAINING_LABEL, MANAGED_LABEL, PERFORMANCE, POWER_PROFILE_LABEL
from joulie.api.v1alpha1 import DEFAULT_RACK_LABEL, npp_name
from joulie.core.model import NodeInfo, PodInfo
from joulie.core.plan import PowerGuard
from joulie.core.power import ParametricModel, PowerCurve, marginal_watts
from joulie.core.store import ClusterStore
from labeller.budgets.source import CachedBudgetSource, PolicyCache
from labeller.config import PlannerConfig
from labeller.memory import InMemoryCluster
from labeller.metrics import LabellerMetrics
from labeller.planner import Planner
from labeller.profiles import ProfileCache
from labeller.reconciler import Reconciler
from simulator.budget import BudgetLedger, BudgetSettings, policy_object, power_reading, rack_id
from simulator.controls import BASELINE_SETTINGS, Baseline, settings_for
from simulator.hardware import (
    NodeClass,
    NodeSettings,
    Operating,
    effective_cpu_cap,
    effective_gpu_cap,
    node_operating,
)
from simulator.scheduler import ExtenderHook, PodRequest, Scheduler
from simulator.workload import Job, pod_object

EPOCH = 1_767_225_600.0
"""Simulated time zero (2026-01-01T00:00:00Z), so the labeller's timestamps look real."""

_EPS = 1e-9


@dataclass(frozen=True)
class FleetNode:
    """A server of a real cluster (``--snapshot``): its hardware class, name, labels and allocatable CPU."""

    cls: NodeClass
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    alloc_millis: int = 0
    """Allocatable CPU; 0: the class's cores."""


@dataclass(frozen=True)
class RunSpec:
    """One configuration to compare: who plans, and whether the extender is in the loop."""

    key: str
    title: str
    planner: PlannerConfig | None
    """``None``: an unmanaged cluster (no labeller, no caps, pods carry no Joulie constraints)."""
    extender: bool = False
    feedback: bool = False
    """Immediate reconcile when a performance pod cannot be placed."""
    extender_weight: int = 5
    power_aware: bool = False
    """The extender scores by predicted marginal watts (the parametric predictor of each node's class)."""
    budget: bool = False
    """The run enforces the scenario's power budget (:class:`EngineConfig.budget`)."""


@dataclass(frozen=True)
class EngineConfig:
    step_seconds: float = 30.0
    interval_seconds: float = 30.0
    """The labeller's periodic reconcile interval."""
    max_drain_factor: float = 4.0
    """Give up draining after ``hours * max_drain_factor`` (a job that can never be placed)."""
    sample_seconds: float = 300.0
    """Resolution of the recorded cluster-power series."""
    baseline: Baseline = Baseline.OS_DEFAULTS
    """How nodes are set before (or without) Joulie: C-states, uncore, EPP (:mod:`simulator.controls`)."""
    budget: BudgetSettings = field(default_factory=BudgetSettings)
    """The power budget and racks; every run is measured against it, runs with ``RunSpec.budget`` enforce it."""


@dataclass(slots=True)
class JobRecord:
    id: str
    demand: str
    gpus: int
    arrival: float
    work_seconds: float
    start: float = -1.0
    end: float = -1.0
    node: str = ""
    start_profile: str = ""

    @property
    def pending(self) -> float:
        return self.start - self.arrival

    @property
    def slowdown(self) -> float:
        """Run time over run time at full speed (1.0 = not slowed)."""
        return (self.end - self.start) / self.work_seconds


@dataclass(slots=True)
class _Running:
    record: JobRecord
    uid: str
    millis: int
    gpus: int


class SimNode:
    """A node's hardware state: running jobs, caps, power, and per-kind work clocks.

    Work clocks integrate speed over time; a job started at clock ``c`` with ``w``
    seconds of work ends when the clock reaches ``c + w``. That makes completion
    times exact under changing speeds without touching every job every step.
    """

    __slots__ = (
        "_seq",
        "alloc_millis",
        "clock_cpu",
        "clock_gpu",
        "cls",
        "cpu_cap",
        "energy_j",
        "free_gpus",
        "free_millis",
        "gpu_cap",
        "gpus",
        "heap_cpu",
        "heap_gpu",
        "info",
        "name",
        "next_done",
        "op",
        "ref_millis",
        "settings",
        "t",
    )

    def __init__(
        self,
        name: str,
        cls: NodeClass,
        managed: bool,
        settings: NodeSettings | None = None,
        spec: FleetNode | None = None,
    ) -> None:
        self.name = name
        self.cls = cls
        self.ref_millis = cls.cpu.cores * 1000
        self.alloc_millis = spec.alloc_millis if spec is not None and spec.alloc_millis > 0 else self.ref_millis
        self.gpus = cls.gpus
        self.free_millis = self.alloc_millis
        self.free_gpus = cls.gpus
        if spec is not None and spec.labels:
            # a real node: its own labels (the selector decides whether it is managed), less the
            # profile labels of Joulie, which every run starts without
            labels = {k: v for k, v in spec.labels.items() if k not in (POWER_PROFILE_LABEL, DRAINING_LABEL)}
            labels.setdefault("kubernetes.io/hostname", name)
        else:
            labels = {"kubernetes.io/hostname": name}
            if managed:
                labels[MANAGED_LABEL] = "true"
        self.info = NodeInfo(
            name=name, labels=labels, cpu_allocatable_millis=self.alloc_millis, gpu_allocatable=cls.gpus
        )
        self.cpu_cap: float | None = None
        self.gpu_cap: float | None = None
        self.settings = settings or NodeSettings()
        self.t = 0.0
        self.clock_cpu = 0.0
        self.clock_gpu = 0.0
        self.heap_cpu: list[tuple[float, int, _Running]] = []
        self.heap_gpu: list[tuple[float, int, _Running]] = []
        self.energy_j = 0.0
        self._seq = 0
        self.op = _operating(cls, 0, 0, None, None, self.settings)
        self.next_done = float("inf")

    @property
    def labels(self) -> Mapping[str, str]:
        return self.info.labels

    @property
    def busy_millis(self) -> int:
        return self.alloc_millis - self.free_millis

    @property
    def running(self) -> int:
        return len(self.heap_cpu) + len(self.heap_gpu)

    def _progress(self, t: float) -> None:
        dt = t - self.t
        if dt > 0:
            self.energy_j += self.op.watts * dt
            self.clock_cpu += self.op.cpu_speed * dt
            self.clock_gpu += self.op.gpu_speed * dt
            self.t = t

    def _recompute(self) -> None:
        busy = self.busy_millis
        if self.alloc_millis != self.ref_millis:
            # a node of another size runs like the reference server at the same share of its cores
            busy = round(busy * self.ref_millis / self.alloc_millis)
        self.op = _operating(self.cls, busy, self.gpus - self.free_gpus, self.cpu_cap, self.gpu_cap, self.settings)
        nxt = float("inf")
        if self.heap_cpu:
            nxt = self.t + max(0.0, self.heap_cpu[0][0] - self.clock_cpu) / self.op.cpu_speed
        if self.heap_gpu:
            nxt = min(nxt, self.t + max(0.0, self.heap_gpu[0][0] - self.clock_gpu) / self.op.gpu_speed)
        self.next_done = nxt

    def advance(self, t: float, done: list[tuple[_Running, float]]) -> None:
        """Run until ``t``, appending (job, end time) for every job that finishes."""
        while self.next_done <= t:
            te = self.next_done
            self._progress(te)
            for heap, clock in ((self.heap_cpu, self.clock_cpu), (self.heap_gpu, self.clock_gpu)):
                while heap and heap[0][0] <= clock + _EPS * max(1.0, abs(clock)):
                    _, _, run = heapq.heappop(heap)
                    self.free_millis += run.millis
                    self.free_gpus += run.gpus
                    done.append((run, te))
            self._recompute()
        self._progress(t)

    def start(self, run: _Running, work_seconds: float) -> None:
        """Start a job now (the node must have been advanced to the current time)."""
        self.free_millis -= run.millis
        self.free_gpus -= run.gpus
        self._seq += 1
        if run.gpus:
            heapq.heappush(self.heap_gpu, (self.clock_gpu + work_seconds, self._seq, run))
        else:
            heapq.heappush(self.heap_cpu, (self.clock_cpu + work_seconds, self._seq, run))
        self._recompute()

    def set_caps(self, cpu_cap: float | None, gpu_cap: float | None, settings: NodeSettings | None = None) -> None:
        settings = settings or self.settings
        if (cpu_cap, gpu_cap, settings) != (self.cpu_cap, self.gpu_cap, self.settings):
            self.cpu_cap, self.gpu_cap, self.settings = cpu_cap, gpu_cap, settings
            self._recompute()

    @property
    def idle_watts(self) -> float:
        """Draw with nothing running, under the node's current settings."""
        return _operating(self.cls, 0, 0, None, None, self.settings).watts


@lru_cache(maxsize=64)
def _class_curve(cls: NodeClass) -> PowerCurve:
    gpu = cls.gpu
    model = ParametricModel(
        cls.cpu.spec_curve_watts,
        gpu.idle_watts if gpu else ParametricModel().gpu_idle_watts,
        gpu.busy_watts if gpu else ParametricModel().gpu_busy_watts,
    )
    return model.curve(cls.gpus)


@lru_cache(maxsize=65536)
def _operating(
    cls: NodeClass,
    busy_millis: int,
    busy_gpus: int,
    cpu_cap: float | None,
    gpu_cap: float | None,
    settings: NodeSettings,
) -> Operating:
    return node_operating(cls, busy_millis / 1000.0, busy_gpus, cpu_cap, gpu_cap, settings)


class QueueSample(NamedTuple):
    """Pods waiting to start at one instant, after that step's scheduling."""

    seconds: float
    performance: int
    """Performance jobs (by the trace's class, also in run A, where pods carry no class)."""
    all: int


@dataclass
class RunResult:
    spec: RunSpec
    jobs: list[JobRecord]
    energy_j: float
    end_time: float
    """When the last job finished (seconds after start)."""
    horizon: float
    power_series: list[tuple[float, float]]
    """(seconds, mean cluster watts over the preceding sample period)."""
    reconciles: int = 0
    feedback_reconciles: int = 0
    unfinished: int = 0
    wall_seconds: float = 0.0
    profile_changes: int = 0
    queue_series: list[QueueSample] = field(default_factory=list)
    """Waiting jobs after every step's scheduling."""
    budget: dict[str, float] = field(default_factory=dict)
    """Time and energy over the power budget (:meth:`simulator.budget.BudgetLedger.summary`)."""
    peak_watts: float = 0.0
    """Highest cluster power over one step."""


class Simulation:
    """One run of one :class:`RunSpec` over a trace."""

    def __init__(
        self,
        spec: RunSpec,
        fleet: Sequence[NodeClass | FleetNode],
        jobs: Sequence[Job],
        horizon: float,
        seed: int,
        config: EngineConfig | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.spec = spec
        self.cfg = config or EngineConfig()
        self.jobs = sorted(jobs, key=lambda j: (j.arrival, j.node is None))  # stable: snapshot pods first
        self.horizon = horizon
        self.progress = progress
        self.now = 0.0
        managed = spec.planner is not None
        baseline = BASELINE_SETTINGS[self.cfg.baseline]
        self.nodes = [
            SimNode(n.name, n.cls, managed, baseline, n)
            if isinstance(n, FleetNode)
            else SimNode(f"node-{i:03d}", n, managed, baseline)
            for i, n in enumerate(fleet)
        ]
        budget = self.cfg.budget
        self.rack_of: dict[str, str] = {}
        if budget.rack_size > 0:
            for i, node in enumerate(self.nodes):
                rack = self.rack_of[node.name] = rack_id(i, budget.rack_size)
                node.info = replace(node.info, labels={**node.info.labels, DEFAULT_RACK_LABEL: rack})
        racks = sorted(set(self.rack_of.values()))
        self.ledger = BudgetLedger.for_settings(budget, racks) if budget.enabled else None
        self.by_name = {n.name: n for n in self.nodes}
        self.store = ClusterStore()
        for node in self.nodes:
            self.store.put_node(node.info)
        self.profiles = ProfileCache()
        self.enforce_budget = spec.budget and budget.enabled and spec.planner is not None
        self.policies = PolicyCache()
        if self.enforce_budget:
            fleet_max = sum(
                n.cls.cpu.spec_curve_watts[-1] + n.cls.gpus * (n.cls.gpu.max_limit_watts if n.cls.gpu else 0)
                for n in self.nodes
            )
            self.policies.replace([policy_object(budget, racks, fleet_max)])
        self.cluster = InMemoryCluster(self.store, self.profiles, policies=self.policies)
        self.reconciler: Reconciler | None = None
        if spec.planner is not None:
            self.reconciler = Reconciler(
                self.store,
                self.profiles,
                Planner(spec.planner),
                self.cluster,
                metrics=LabellerMetrics(),  # a private registry: simulated reconciles move no real counter
                clock=lambda: EPOCH + self.now,
                budgets=CachedBudgetSource(self.policies) if self.enforce_budget else None,
            )
        self._rack_pending: dict[str, float] = {}
        """Predicted watts of pods placed in each limited rack since the agents last reported (not measured yet)."""
        self._supply: dict[str, decide.Supply | None] = {}
        hook = (
            ExtenderHook(
                self._supply.get,
                self.store.cpu_requested_on,
                spec.extender_weight,
                power_increase=self._power_increase if spec.power_aware else None,
                guard_of=self._guard if self.enforce_budget else None,
                rack_pending=self._rack_pending.get,
                pod_watts=self._power_increase,
            )
            if spec.extender
            else None
        )
        self.scheduler = Scheduler(random.Random(f"{seed}/{spec.key}/scheduler"), hook)
        self._profiles_version = -1
        self._labels_writes = -1
        self.reconciles = 0
        self.feedback_reconciles = 0
        self.profile_changes = 0

    def _power_increase(self, name: str, pod_millis: int, pod_gpus: int) -> float | None:
        """What the extender's parametric predictor says the pod adds to the node (pods run as soon as bound)."""
        node = self.by_name[name]
        curve = _class_curve(node.cls)
        return marginal_watts(curve, node.busy_millis, node.alloc_millis, pod_millis, pod_gpus)

    def _guard(self, name: str) -> PowerGuard | None:
        plan = self.reconciler.latest_plan if self.reconciler is not None else None
        return plan.guards.get(name) if plan is not None else None

    # ------------------------------------------------------------ labeller side

    def _report_power(self) -> None:
        """Every node's agent writes ``status.power`` of its NodePowerProfile (the spec is untouched)."""
        at = EPOCH + self.now
        self._rack_pending.clear()  # what was placed so far is in these readings, hence in the next plan
        for node in self.nodes:
            observed = self.profiles.get(npp_name(node.name))
            if observed is None:
                continue
            reading = power_reading(node.cls, node.op, at)
            self.profiles.upsert(
                {
                    "metadata": {"name": observed.name, "annotations": dict(observed.annotations)},
                    "spec": dict(observed.spec or {}),
                    "status": {"power": reading.to_api()},
                }
            )

    def _reconcile(self, reason: str) -> None:
        assert self.reconciler is not None
        result = self.reconciler.reconcile(reason)
        self.reconciles += 1
        self.profile_changes += len(result.transitions)
        self._sync_from_cluster()

    def _sync_from_cluster(self) -> None:
        """Pick up what the reconcile wrote: labels for the scheduler, caps for the agents."""
        if self.cluster.writes != self._labels_writes:
            self._labels_writes = self.cluster.writes
            for node in self.nodes:
                info = self.store.node(node.name)
                if info is not None and info is not node.info:
                    node.info = info
            self.scheduler.labels_changed()
        plan = self.reconciler.latest_plan if self.reconciler else None
        selector = self.reconciler.planner.selector if self.reconciler else None
        if selector is not None:
            for node in self.nodes:
                self._supply[node.name] = decide.node_supply(node.name, plan, node.labels, selector)
        if self.profiles.version != self._profiles_version:
            self._profiles_version = self.profiles.version
            for node in self.nodes:
                self._apply_profile(node)

    def _apply_profile(self, node: SimNode) -> None:
        """What the agent does with the node's NodePowerProfile: caps, and the controls beyond them."""
        observed = self.profiles.get(npp_name(node.name))
        spec = observed.spec if observed is not None and observed.spec else {}
        cpu = spec.get("cpu") or {}
        gpu_cap = (spec.get("gpu") or {}).get("powerCap") or {}
        cpu_w = effective_cpu_cap(node.cls.cpu, cpu.get("packagePowerCapWatts"), cpu.get("packagePowerCapPctOfMax"))
        gpu_w = (
            effective_gpu_cap(node.cls.gpu, gpu_cap.get("capWattsPerGpu"), gpu_cap.get("capPctOfMax"))
            if node.cls.gpu is not None
            else None
        )
        node.set_caps(cpu_w, gpu_w, settings_for(node.cls.cpu, self.cfg.baseline, cpu))

    # ------------------------------------------------------------ scheduling

    def _admit(self, job: Job) -> tuple[PodRequest, JobRecord]:
        obj = pod_object(job, with_constraints=self.spec.planner is not None, epoch=EPOCH)
        info = PodInfo.from_api(obj)
        self.store.put_pod(info)
        affinity = obj["spec"].get("affinity")
        request = PodRequest(
            uid=info.uid,
            key=info.key,
            demand=info.demand,
            cpu_millis=info.cpu_request_millis,
            gpus=info.gpu_request,
            spec=obj["spec"],
            affinity_key=json.dumps(affinity, sort_keys=True) if affinity else "",
        )
        record = JobRecord(job.id, job.demand, job.gpus, job.arrival, job.work_seconds)
        return request, record

    def _schedule_pass(
        self, pending: list[tuple[PodRequest, JobRecord]]
    ) -> tuple[list[tuple[PodRequest, JobRecord]], bool]:
        """Try every pending pod once, in arrival order; returns the still-pending and whether
        a performance pod found no node (the feedback trigger)."""
        left: list[tuple[PodRequest, JobRecord]] = []
        failed_shapes: set[tuple[str, int, int]] = set()
        unmet_performance = False
        for request, record in pending:
            shape = (request.affinity_key, request.cpu_millis, request.gpus)
            placement = None if shape in failed_shapes else self.scheduler.place(request, self.nodes)
            if placement is not None and placement.node is not None:
                self._bind(request, record, self.by_name[placement.node])
                continue
            failed_shapes.add(shape)
            left.append((request, record))
            if request.demand != PERFORMANCE:
                continue
            # kube-scheduler marks the pod Unschedulable whether its own filters or the
            # extender's left no node; the labeller reads that condition from the store.
            info = self.store.pod(request.uid)
            if info is not None and not info.unschedulable:
                self.store.put_pod(replace(info, unschedulable=True))
                unmet_performance = True
        return left, unmet_performance

    def _bind(self, request: PodRequest, record: JobRecord, node: SimNode) -> None:
        info = self.store.pod(request.uid)
        if info is not None:
            self.store.put_pod(replace(info, node_name=node.name, phase="Running", unschedulable=False))
        record.start = self.now
        record.node = node.name
        record.start_profile = node.labels.get(POWER_PROFILE_LABEL, "unmanaged")
        if self.enforce_budget:
            guard = self._guard(node.name)
            if guard is not None and guard.rack is not None and guard.rack_headroom_watts is not None:
                added = self._power_increase(node.name, request.cpu_millis, request.gpus)
                if added is not None and added != float("inf"):
                    self._rack_pending[guard.rack] = self._rack_pending.get(guard.rack, 0.0) + added
        node.start(_Running(record, request.uid, request.cpu_millis, request.gpus), record.work_seconds)

    # ------------------------------------------------------------ main loop

    def run(self) -> RunResult:
        started = time.perf_counter()
        cfg = self.cfg
        step = cfg.step_seconds
        jobs = self.jobs
        records: list[JobRecord] = []
        pending: list[tuple[PodRequest, JobRecord]] = []
        next_job = 0
        running = 0
        last_reconcile = -float("inf")
        while next_job < len(jobs) and jobs[next_job].arrival <= 0.0 and jobs[next_job].node is not None:
            # pods already running when the snapshot was taken start on their node
            request, record = self._admit(jobs[next_job])
            records.append(record)
            node = self.by_name.get(jobs[next_job].node or "")
            if node is not None and node.free_millis >= request.cpu_millis and node.free_gpus >= request.gpus:
                self._bind(request, record, node)
                running += 1
            else:
                pending.append((request, record))
            next_job += 1
        if self.reconciler is not None:
            self._reconcile("startup")
            last_reconcile = 0.0
        limit = self.horizon * max(1.0, cfg.max_drain_factor)
        series: list[tuple[float, float]] = []
        queue: list[QueueSample] = []
        sample_energy, sample_start = 0.0, 0.0
        end_time = 0.0
        step_energy = [n.energy_j for n in self.nodes]
        peak_watts = 0.0
        last_report = -float("inf")
        while True:
            while next_job < len(jobs) and jobs[next_job].arrival <= self.now:
                request, record = self._admit(jobs[next_job])
                records.append(record)
                pending.append((request, record))
                next_job += 1
            if pending:
                before = len(pending)
                pending, unmet = self._schedule_pass(pending)
                if unmet and self.spec.feedback and self.reconciler is not None:
                    self._reconcile("feedback: performance pod found no node")
                    self.feedback_reconciles += 1
                    pending, _ = self._schedule_pass(pending)
                running += before - len(pending)
            waiting_performance = sum(1 for _, r in pending if r.demand == PERFORMANCE) if pending else 0
            if not queue or (queue[-1].performance, queue[-1].all) != (waiting_performance, len(pending)):
                queue.append(QueueSample(self.now, waiting_performance, len(pending)))
            if next_job >= len(jobs) and not pending and running == 0 and self.now >= self.horizon:
                break
            if self.now >= limit:
                break
            t_next = self.now + step
            done: list[tuple[_Running, float]] = []
            for node in self.nodes:
                node.advance(t_next, done)
            for run, t_end in done:
                run.record.end = t_end
                end_time = max(end_time, t_end)
                self.store.delete_pod(run.uid)
            running -= len(done)
            now_energy = [n.energy_j for n in self.nodes]
            rack_watts: dict[str, float] = {}
            total_watts = 0.0
            for node, joules_then, joules_now in zip(self.nodes, step_energy, now_energy):
                w = (joules_now - joules_then) / step
                total_watts += w
                rack = self.rack_of.get(node.name)
                if rack is not None:
                    rack_watts[rack] = rack_watts.get(rack, 0.0) + w
            peak_watts = max(peak_watts, total_watts)
            if self.ledger is not None:
                self.ledger.add(total_watts, rack_watts, step)
            step_energy = now_energy
            self.now = t_next
            if self.enforce_budget and self.now - last_report >= cfg.budget.agent_interval_seconds - _EPS:
                self._report_power()
                last_report = self.now
            if self.now - sample_start >= cfg.sample_seconds - _EPS:
                total = sum(n.energy_j for n in self.nodes)
                series.append((self.now, (total - sample_energy) / (self.now - sample_start)))
                sample_energy, sample_start = total, self.now
            if self.reconciler is not None and self.now - last_reconcile >= cfg.interval_seconds - _EPS:
                self._reconcile("tick")
                last_reconcile = self.now
            if self.progress is not None:
                self.progress(self.now)
        total = sum(n.energy_j for n in self.nodes)
        if self.now > sample_start:
            series.append((self.now, (total - sample_energy) / (self.now - sample_start)))
        unfinished = sum(1 for r in records if r.end < 0) + (len(jobs) - next_job)
        window_end = self.now
        if unfinished == 0:
            # The loop stops at a step boundary; past the last completion (or the trace's end)
            # every node is idle, and caps never change idle power, so trim that tail exactly.
            window_end = max(self.horizon, end_time)
            total -= sum(n.idle_watts for n in self.nodes) * max(0.0, self.now - window_end)
        return RunResult(
            spec=self.spec,
            jobs=records,
            energy_j=total,
            end_time=window_end,
            horizon=self.horizon,
            power_series=series,
            reconciles=self.reconciles,
            feedback_reconciles=self.feedback_reconciles,
            unfinished=unfinished,
            wall_seconds=time.perf_counter() - started,
            profile_changes=self.profile_changes,
            queue_series=queue,
            budget=self.ledger.summary() if self.ledger is not None else {},
            peak_watts=peak_watts,
        )


def quiet_labeller_logs() -> None:
    """The reconciler logs every write at INFO; a simulated day would print thousands of lines."""
    for name in ("labeller", "extender"):
        logging.getLogger(name).setLevel(logging.WARNING)
