"""``static_partition``: a fixed fraction of the eligible nodes runs performance."""

from __future__ import annotations

from pydantic import Field

from labeller.policies.base import Policy, PolicyInput, PolicyParams, PolicyResult, clamp, round_half_away


class StaticPartitionParams(PolicyParams):
    hp_frac: float = Field(default=0.5, ge=0.0, le=1.0, description="STATIC_HP_FRAC: share of nodes in performance.")


class StaticPartition(Policy[StaticPartitionParams]):
    name = "static_partition"
    params_model = StaticPartitionParams
    description = "hp = clamp(round(N * hp_frac), 0, N)"

    def decide(self, inp: PolicyInput) -> PolicyResult:
        n = len(inp.nodes)
        hp = clamp(round_half_away(n * self.params.hp_frac), 0, n)
        return PolicyResult(hp, f"static_partition: round({n} x {self.params.hp_frac:g}) = {hp} performance")
