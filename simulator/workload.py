"""Workload traces: a seeded generator and JSONL import/export.

A trace is a list of :class:`Job` records, one JSON object per line, so a run can be
repeated or compared on exactly the same arrivals. The generator produces a
non-homogeneous Poisson stream with a day/night cycle, short bursts, a mix of
performance, eco and general jobs, and CPU and GPU requests sized so that the
offered load is a chosen share of the cluster's capacity.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from joulie.api.labels import DRAINING_LABEL, POWER_PROFILE_LABEL
from joulie.validation import validation_details

DAY = 86400.0


class Job(BaseModel):
    """One job (a pod): when it arrives, what it asks for, how much work it carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    arrival: float = Field(ge=0, allow_inf_nan=False, description="Seconds after the start of the trace.")
    demand: Literal["performance", "eco", "general"]
    cpu_millis: int = Field(ge=1)
    gpus: int = Field(default=0, ge=0)
    work_seconds: float = Field(
        gt=0,
        allow_inf_nan=False,
        description="Run time at full speed. The work is cpu cores x this (core-seconds), "
        "or gpus x this (GPU-seconds) for GPU jobs.",
    )
    node: str | None = Field(
        default=None,
        min_length=1,
        description="Already running on this node at time 0 (a pod from a cluster snapshot).",
    )


class TraceError(ValueError):
    """A trace file cannot be used; the message names the file and line."""


class GeneratorConfig(BaseModel):
    """Knobs of the synthetic trace; defaults give roughly 9k jobs a day on 100 CPU nodes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hours: float = Field(default=24.0, gt=0)
    load: float = Field(default=0.55, gt=0, le=1, description="Mean offered CPU load / cluster cores.")
    gpu_load: float = Field(default=0.55, gt=0, le=1, description="Mean offered GPU load / cluster GPUs.")
    performance: float = Field(default=0.3, ge=0, le=1, description="Share of performance jobs.")
    eco: float = Field(default=0.2, ge=0, le=1, description="Share of eco jobs; the rest are general.")
    day_night_amplitude: float = Field(default=0.5, ge=0, lt=1, description="Peak/mean - 1 of the daily cycle.")
    peak_hour: float = Field(default=14.0, ge=0, lt=24)
    burst_share: float = Field(default=0.1, ge=0, lt=1, description="Share of jobs arriving in bursts.")
    burst_minutes: float = Field(default=5.0, gt=0)
    bursts_per_day: float = Field(default=4.0, ge=0)

    @model_validator(mode="after")
    def _mix(self) -> GeneratorConfig:
        if self.performance + self.eco > 1.0 + 1e-9:
            raise ValueError(f"performance ({self.performance}) + eco ({self.eco}) shares exceed 1")
        return self


CPU_CORES_CHOICES = ((4, 0.30), (8, 0.35), (16, 0.20), (32, 0.15))
CPU_MEDIAN_MINUTES, CPU_SIGMA = 40.0, 0.8
GPU_COUNT_CHOICES = ((1, 0.4), (2, 0.3), (4, 0.2), (8, 0.1))
GPU_CORES_PER_GPU = 8
GPU_MEDIAN_MINUTES, GPU_SIGMA = 60.0, 0.8
MIN_WORK, MAX_WORK = 60.0, 6 * 3600.0


def _mean_lognormal_clipped(median_min: float, sigma: float) -> float:
    return min(MAX_WORK, median_min * 60.0 * math.exp(sigma * sigma / 2.0))


def _pick(rng: random.Random, choices: tuple[tuple[int, float], ...]) -> int:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _duration(rng: random.Random, median_min: float, sigma: float) -> float:
    return round(min(MAX_WORK, max(MIN_WORK, rng.lognormvariate(math.log(median_min * 60.0), sigma))), 1)


def _arrivals(rng: random.Random, rate: float, cfg: GeneratorConfig, horizon: float) -> list[float]:
    """Arrival times: a day/night-modulated Poisson stream plus bursts, ``rate`` jobs/s on average."""
    if rate <= 0:
        return []
    steady = rate * (1.0 - cfg.burst_share)
    peak = steady * (1.0 + cfg.day_night_amplitude)
    phase = cfg.peak_hour * 3600.0
    times: list[float] = []
    t = 0.0
    while True:  # thinning (Lewis & Shedler)
        t += rng.expovariate(peak)
        if t >= horizon:
            break
        here = steady * (1.0 + cfg.day_night_amplitude * math.cos(2 * math.pi * (t - phase) / DAY))
        if rng.random() * peak <= here:
            times.append(t)
    bursts = _poisson(rng, cfg.bursts_per_day * horizon / DAY)
    burst_jobs = rate * cfg.burst_share * horizon
    if bursts and burst_jobs >= 1:
        per_burst = burst_jobs / bursts
        width = cfg.burst_minutes * 60.0
        for _ in range(bursts):
            start = rng.uniform(0.0, max(0.0, horizon - width))
            for _ in range(_poisson(rng, per_burst)):
                times.append(start + rng.uniform(0.0, width))
    times.sort()
    return times


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method for small means, normal approximation for large ones."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def generate(cfg: GeneratorConfig, cluster_cores: int, cluster_gpus: int, seed: int) -> list[Job]:
    """A reproducible trace for a cluster of ``cluster_cores`` cores and ``cluster_gpus`` GPUs."""
    rng = random.Random(seed)
    horizon = cfg.hours * 3600.0
    mean_cores = sum(c * w for c, w in CPU_CORES_CHOICES) / sum(w for _, w in CPU_CORES_CHOICES)
    cpu_rate = cfg.load * cluster_cores / (mean_cores * _mean_lognormal_clipped(CPU_MEDIAN_MINUTES, CPU_SIGMA))
    mean_gpus = sum(c * w for c, w in GPU_COUNT_CHOICES) / sum(w for _, w in GPU_COUNT_CHOICES)
    gpu_rate = (
        cfg.gpu_load * cluster_gpus / (mean_gpus * _mean_lognormal_clipped(GPU_MEDIAN_MINUTES, GPU_SIGMA))
        if cluster_gpus
        else 0.0
    )
    if cluster_gpus:
        # GPU jobs also hold host cores; keep the CPU load at the target by thinning CPU-only jobs.
        gpu_cores = gpu_rate * mean_gpus * GPU_CORES_PER_GPU * _mean_lognormal_clipped(GPU_MEDIAN_MINUTES, GPU_SIGMA)
        cpu_rate = max(
            0.0, cpu_rate - gpu_cores / (mean_cores * _mean_lognormal_clipped(CPU_MEDIAN_MINUTES, CPU_SIGMA))
        )
    stream: list[tuple[float, bool]] = [(t, False) for t in _arrivals(rng, cpu_rate, cfg, horizon)]
    stream += [(t, True) for t in _arrivals(rng, gpu_rate, cfg, horizon)]
    stream.sort()
    jobs = []
    for i, (t, is_gpu) in enumerate(stream):
        u = rng.random()
        demand = "performance" if u < cfg.performance else "eco" if u < cfg.performance + cfg.eco else "general"
        if is_gpu:
            gpus = _pick(rng, GPU_COUNT_CHOICES)
            cpu, work = gpus * GPU_CORES_PER_GPU * 1000, _duration(rng, GPU_MEDIAN_MINUTES, GPU_SIGMA)
        else:
            gpus = 0
            cpu, work = _pick(rng, CPU_CORES_CHOICES) * 1000, _duration(rng, CPU_MEDIAN_MINUTES, CPU_SIGMA)
        jobs.append(
            Job(id=f"job-{i:06d}", arrival=round(t, 3), demand=demand, cpu_millis=cpu, gpus=gpus, work_seconds=work)
        )
    return jobs


# ------------------------------------------------------------------ JSONL


def write_jsonl(jobs: Iterable[Job], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for job in jobs:
            fh.write(job.model_dump_json(exclude_none=True) + "\n")
    return path


def read_jsonl(path: Path) -> list[Job]:
    """Read a trace; blank lines and ``#`` comments are skipped, anything else must be a valid job."""
    jobs: list[Job] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TraceError(f"cannot read trace {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not a UTF-8 text file") from None
    for n, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            job = Job.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise TraceError(f"{path}:{n}: not JSON: {exc.msg}") from None
        except RecursionError:
            raise TraceError(f"{path}:{n}: not a job: nested too deeply") from None
        except ValidationError as exc:
            raise TraceError(f"{path}:{n}: invalid job: {validation_details(exc, 'line')}") from None
        if job.id in seen:
            raise TraceError(f"{path}:{n}: duplicate job id {job.id!r}")
        seen.add(job.id)
        jobs.append(job)
    if not jobs:
        raise TraceError(f"{path}: no jobs in the trace")
    jobs.sort(key=lambda j: (j.arrival, j.id))
    return jobs


def read_trace(path: Path) -> list[Job]:
    """A trace file: ``.csv`` is a table of real jobs (:mod:`simulator.csvtrace`), anything else JSONL."""
    if path.suffix.lower() == ".csv":
        from simulator.csvtrace import read_csv

        return read_csv(path)
    return read_jsonl(path)


# ------------------------------------------------------------------ pods


def _affinity(demand: str) -> dict[str, Any] | None:
    """Upstream's recommended constraints: performance ``NotIn [eco]``; eco ``In [eco]`` and not draining."""
    if demand == "performance":
        exprs = [{"key": POWER_PROFILE_LABEL, "operator": "NotIn", "values": ["eco"]}]
    elif demand == "eco":
        exprs = [
            {"key": POWER_PROFILE_LABEL, "operator": "In", "values": ["eco"]},
            {"key": DRAINING_LABEL, "operator": "NotIn", "values": ["true"]},
        ]
    else:
        return None
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": exprs}]}
        }
    }


def pod_object(job: Job, with_constraints: bool = True, epoch: float = 0.0) -> dict[str, Any]:
    """The Pod API object a user would submit for ``job`` (``with_constraints=False``: no Joulie intent),
    created at ``epoch + job.arrival`` (unix seconds; the API server's creationTimestamp has whole seconds)."""
    requests: dict[str, Any] = {"cpu": f"{job.cpu_millis}m"}
    limits: dict[str, Any] = {}
    if job.gpus:
        limits["nvidia.com/gpu"] = str(job.gpus)
    resources: dict[str, Any] = {"requests": requests}
    if limits:
        resources["limits"] = limits
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "sim/job", "resources": resources}]}
    affinity = _affinity(job.demand) if with_constraints else None
    if affinity:
        spec["affinity"] = affinity
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": job.id,
            "namespace": "sim",
            "uid": f"uid-{job.id}",
            "creationTimestamp": datetime.fromtimestamp(math.floor(epoch + job.arrival), UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        },
        "spec": spec,
        "status": {"phase": "Pending"},
    }
