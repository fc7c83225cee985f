"""``rule_swap_v1`` (debug): alternately puts node 0 or node 1 in eco, to exercise transitions."""

from __future__ import annotations

from pydantic import Field

from joulie.api.labels import ECO, PERFORMANCE, Profile
from labeller.policies.base import Policy, PolicyInput, PolicyParams, PolicyResult


class RuleSwapParams(PolicyParams):
    interval_seconds: int = Field(default=60, ge=1, description="Length of each phase.")


class RuleSwapV1(Policy[RuleSwapParams]):
    name = "rule_swap_v1"
    params_model = RuleSwapParams
    description = "phase = (unix_seconds // interval) % 2; node[phase] is eco, every other node performance"

    def decide(self, inp: PolicyInput) -> PolicyResult:
        phase = int(inp.now // self.params.interval_seconds) % 2
        fixed: dict[str, Profile] = {name: PERFORMANCE for name in inp.nodes}
        if phase < len(inp.nodes):
            fixed[inp.nodes[phase]] = ECO
        eco_node = inp.nodes[phase] if phase < len(inp.nodes) else "none"
        return PolicyResult(
            len(inp.nodes) - (1 if phase < len(inp.nodes) else 0),
            f"rule_swap_v1: phase {phase}, eco node {eco_node}",
            fixed=fixed,
        )
