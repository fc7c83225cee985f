"""``queue_aware_v1``: enough performance nodes for the performance pods, above a base share."""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from labeller.policies.base import Policy, PolicyInput, PolicyParams, PolicyResult, clamp, round_half_away


class QueueAwareParams(PolicyParams):
    base_frac: float = Field(default=0.6, ge=0.0, le=1.0, description="QUEUE_HP_BASE_FRAC")
    hp_min: int = Field(default=1, ge=0, description="QUEUE_HP_MIN")
    hp_max: int = Field(default=1_000_000, ge=0, description="QUEUE_HP_MAX")
    perf_per_hp_node: int = Field(default=10, ge=1, description="QUEUE_PERF_PER_HP_NODE")

    @model_validator(mode="after")
    def _min_le_max(self) -> QueueAwareParams:
        if self.hp_min > self.hp_max:
            raise ValueError(f"hp_min ({self.hp_min}) must not exceed hp_max ({self.hp_max})")
        return self


class QueueAwareV1(Policy[QueueAwareParams]):
    name = "queue_aware_v1"
    params_model = QueueAwareParams
    description = "hp = clamp(max(round(N * base_frac), ceil(P / perf_per_hp_node)), hp_min, hp_max), then <= N"

    def decide(self, inp: PolicyInput) -> PolicyResult:
        p = self.params
        n = len(inp.nodes)
        perf = inp.demand.performance
        base = round_half_away(n * p.base_frac)
        needed = math.ceil(perf / p.perf_per_hp_node)
        hp = min(clamp(max(base, needed), p.hp_min, p.hp_max), n)
        if n == 0:
            return PolicyResult(0, "queue_aware_v1: no eligible nodes, 0 performance")
        return PolicyResult(
            hp,
            f"queue_aware_v1: max(round({n} x {p.base_frac:g}) = {base}, "
            f"ceil({perf} performance pods / {p.perf_per_hp_node}) = {needed}) "
            f"clamped to [{min(p.hp_min, n)}, {min(p.hp_max, n)}] = {hp} performance",
        )
