"""A comparison scenario: the fleet, the trace and the four runs A, B, C and J.

- **A**: unmanaged. No labeller, no caps, no extender; pods carry no Joulie
  constraints (an unmanaged cluster has no power-profile labels to ask for).
- **B**: labeller with ``static_partition``, scheduler without the extender,
  reconciling at its interval only (upstream's design).
- **C**: the same with ``queue_aware_v1``.
- **J**: Joulie's scheduler-centric mode: the labeller (``queue_aware_v1`` sized
  generously for performance by default, with a minimum dwell) plus the extender's
  filter and score, and feedback: a performance pod with no node triggers an
  immediate reconcile that promotes nodes.
- **P** (with ``--power-aware-scoring``): J with the extender scoring nodes by the
  predicted watts a pod adds (:mod:`joulie.core.power`, the parametric predictor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from joulie.api.labels import DEFAULT_NODE_SELECTOR
from joulie.core.plan import ECO_CAPS, PERFORMANCE_CAPS, CapSettings
from joulie.core.selector import LabelSelector
from labeller.config import PlannerConfig
from labeller.templates import ControlTemplates
from simulator.budget import BudgetSettings
from simulator.controls import Baseline
from simulator.engine import EngineConfig, FleetNode, RunResult, RunSpec, Simulation, quiet_labeller_logs
from simulator.hardware import CPU_NODE, GPU_NODE, NodeClass
from simulator.workload import GeneratorConfig, Job, generate

RUN_KEYS = ("A", "B", "C", "J")


class Scenario(BaseModel):
    """Everything a comparison depends on; equal scenarios give equal results."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nodes: int = Field(default=100, ge=1, le=5000)
    gpu_fraction: float = Field(default=0.0, ge=0, le=1, description="Share of nodes that are GPU servers.")
    seed: int = 1
    workload: GeneratorConfig = GeneratorConfig()
    performance_caps: CapSettings = PERFORMANCE_CAPS
    eco_caps: CapSettings = ECO_CAPS
    """What the labeller writes into NodePowerProfiles (the product defaults unless set)."""
    cpu_controls: ControlTemplates = ControlTemplates()
    """Per-profile CPU controls beyond the cap (the product defaults unless set)."""
    baseline: Baseline = Field(
        default=Baseline.OS_DEFAULTS,
        description="How nodes are set when unmanaged (and before the agent changes them).",
    )
    static_params: dict[str, Any] = Field(default_factory=dict)
    queue_params: dict[str, Any] = Field(default_factory=dict)
    joulie_policy: str = "queue_aware_v1"
    joulie_params: dict[str, Any] = Field(default_factory=lambda: {"base_frac": 0.2, "perf_per_hp_node": 3})
    joulie_dwell_seconds: float = Field(default=600.0, ge=0)
    feedback_hold_seconds: float = Field(default=120.0, ge=0)
    performance_wait_target_seconds: float = Field(default=60.0, ge=0)
    """Run J's wait target (B and C run without one, as upstream)."""
    extender_weight: int = Field(default=5, ge=1, le=100)
    interval_seconds: float = Field(default=30.0, gt=0)
    step_seconds: float = Field(default=30.0, gt=0, le=600)
    runs: tuple[str, ...] = RUN_KEYS
    power_aware_scoring: bool = Field(
        default=False, description="Add run P: run J with power-aware scoring (parametric predictor), to compare."
    )
    power_budget_watts: float | None = Field(default=None, gt=0)
    """Cluster power cap run J enforces (a PowerCappingPolicy); ``None``: no budget."""
    rack_size: int = Field(default=0, ge=0)
    """Nodes per rack in name order (0: no racks)."""
    rack_max_watts: float | None = Field(default=None, gt=0)
    """Every rack's power limit (``rackConstraints[].maxPower``); needs ``rack_size``."""
    node_selector: str = DEFAULT_NODE_SELECTOR
    """Managed nodes (matters for a cluster from ``--snapshot``; the generated fleet is all managed)."""

    @field_validator("node_selector")
    @classmethod
    def _valid_selector(cls, value: str) -> str:
        LabelSelector.parse(value)
        return value

    @model_validator(mode="after")
    def _racks_have_a_size(self) -> Scenario:
        if self.rack_max_watts is not None and self.rack_size <= 0:
            raise ValueError("rack_max_watts (--rack-max-watts) needs rack_size (--rack-size) > 0")
        return self

    def budget(self) -> BudgetSettings:
        return BudgetSettings(self.power_budget_watts, self.rack_size, self.rack_max_watts)

    @field_validator("runs")
    @classmethod
    def _known_runs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if r not in RUN_KEYS]
        if bad or not v:
            raise ValueError(f"unknown run(s) {bad}; choose from {', '.join(RUN_KEYS)}")
        return tuple(dict.fromkeys(v))

    def fleet(self) -> list[NodeClass]:
        """GPU servers first-named would bias name-ordered policies; interleave them evenly instead."""
        n_gpu = round(self.nodes * self.gpu_fraction)
        fleet = []
        acc = 0.0
        for _ in range(self.nodes):
            acc += n_gpu / self.nodes
            if acc >= 1.0 - 1e-9:
                fleet.append(GPU_NODE)
                acc -= 1.0
            else:
                fleet.append(CPU_NODE)
        return fleet

    def trace(self) -> list[Job]:
        fleet = self.fleet()
        return generate(self.workload, sum(c.cpu.cores for c in fleet), sum(c.gpus for c in fleet), self.seed)

    def specs(self) -> list[RunSpec]:
        perf, eco = self.performance_caps, self.eco_caps

        def planner(policy: str, params: dict[str, Any], feedback: bool, dwell: float = 0.0) -> PlannerConfig:
            config = PlannerConfig(
                node_selector=self.node_selector,
                policy=policy,
                policy_params=params,
                performance_caps=perf,
                eco_caps=eco,
                cpu_controls=self.cpu_controls,
                dwell_seconds=dwell,
                # Without the feedback path a floor is never raised: hold 0 keeps it inert.
                feedback_hold_seconds=self.feedback_hold_seconds if feedback else 0.0,
                performance_wait_target_seconds=self.performance_wait_target_seconds if feedback else 0.0,
            )
            config.build_policy()  # validate parameters now, with a clear error
            return config

        all_specs = {
            "A": RunSpec("A", "unmanaged: all performance, no caps, no extender", None),
            "B": RunSpec(
                "B", "static_partition, labeller only", planner("static_partition", self.static_params, False)
            ),
            "C": RunSpec("C", "queue_aware_v1, labeller only", planner("queue_aware_v1", self.queue_params, False)),
            "J": RunSpec(
                "J",
                f"Joulie scheduler-centric: {self.joulie_policy} + extender + feedback",
                planner(self.joulie_policy, self.joulie_params, True, self.joulie_dwell_seconds),
                extender=True,
                feedback=True,
                extender_weight=self.extender_weight,
                budget=True,
            ),
        }
        chosen = [all_specs[k] for k in self.runs]
        if self.power_aware_scoring:
            j = all_specs["J"]
            chosen.append(replace(j, key="P", title=f"{j.title}, power-aware scoring", power_aware=True))
        return chosen

    def engine(self) -> EngineConfig:
        return EngineConfig(
            step_seconds=self.step_seconds,
            interval_seconds=self.interval_seconds,
            baseline=self.baseline,
            budget=self.budget(),
        )


def run_scenario(
    scenario: Scenario,
    jobs: Sequence[Job] | None = None,
    progress: Callable[[str, float], None] | None = None,
    fleet: Sequence[NodeClass | FleetNode] | None = None,
) -> list[RunResult]:
    """Run every configured run on the same trace (``jobs`` or the scenario's own) and fleet
    (``fleet``, e.g. from a cluster snapshot, or the scenario's own)."""
    quiet_labeller_logs()
    trace = list(jobs) if jobs is not None else scenario.trace()
    horizon = max(scenario.workload.hours * 3600.0, max((j.arrival for j in trace), default=0.0))
    results = []
    fleet = list(fleet) if fleet is not None else scenario.fleet()
    for spec in scenario.specs():
        callback = (lambda t, key=spec.key: progress(key, t)) if progress else None
        sim = Simulation(spec, fleet, trace, horizon, scenario.seed, scenario.engine(), callback)
        results.append(sim.run())
    return results
