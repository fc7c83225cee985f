"""Pod power profiles on this node: which profiles it can honour, and the writes for one container's cores.

Pure planning over the inventory, reusing the node controls' planners (:mod:`agent.controls`)
on the part of the node a setting applies to: a container's exclusive cores for its profile,
the rest for the node's own settings. The engine applies the plans through the same
transactions, originals and restore as every other control.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.controls import ControlPlan, plan_controls
from agent.cpuset import format_cpuset
from agent.inventory import CpuFreq, Inventory
from agent.state import Value
from joulie.api.v1alpha1 import PowerProfileSpec, pod_profile_resource, resource_name_problem

PER_POLICY = ("governor", "epp", "frequency")
"""Controls written per cpufreq policy: they need one policy per CPU to be per core."""


@dataclass(frozen=True)
class Offer:
    """One PowerProfile on this node: advertised with ``capacity``, or not, because of ``problem``."""

    name: str
    capacity: int = 0
    problem: str | None = None

    @property
    def resource(self) -> str:
        return pod_profile_resource(self.name)

    @property
    def advertised(self) -> bool:
        return self.problem is None and self.capacity > 0


def plan_pod_controls(
    spec: PowerProfileSpec, cores: Inventory, originals: Mapping[str, Value], dvfs_max: Mapping[int, int]
) -> list[ControlPlan]:
    """The profile's controls on ``cores`` (``Inventory.only`` of a container's CPUs), in apply order.

    A per-policy control on a policy shared with CPUs outside the container fails: writing it
    would change cores that are not the container's.
    """
    wanted = spec.controls()
    shared = cores.control_problems.get("shared-policy")
    plans = plan_controls(wanted, cores, originals, dvfs_max)
    if shared:
        plans = [p.refuse("failed", "; ".join(shared)) if p.name in PER_POLICY else p for p in plans]
    return plans


def offers(
    profiles: Mapping[str, PowerProfileSpec | str], inv: Inventory, exclusive_capable: frozenset[int]
) -> list[Offer]:
    """What this node offers of every PowerProfile: ``capacity`` is the CPUs the kubelet may give exclusively."""
    cores = inv.only(exclusive_capable)
    shared = [c for c in inv.cpus if c.shared_with and c.policy_cpus & exclusive_capable]
    out = []
    for name in sorted(profiles):
        spec = profiles[name]
        problem = resource_name_problem(name)
        if problem is None and isinstance(spec, str):
            problem = f"invalid PowerProfile: {spec}"
        if problem is None and isinstance(spec, PowerProfileSpec):
            problem = _cannot_honour(spec, cores, shared)
        out.append(Offer(name, len(exclusive_capable) if problem is None else 0, problem))
    return out


def _cannot_honour(spec: PowerProfileSpec, cores: Inventory, shared: list[CpuFreq]) -> str | None:
    if spec.shared:
        return "shared: true (a shared pool's profile; the shared pool follows the node's NodePowerProfile)"
    wanted = spec.controls()
    if shared and any(n in wanted for n in PER_POLICY):
        members = format_cpuset(shared[0].policy_cpus)
        return (
            f"cpufreq policies here drive several CPUs each (cpu {members} share one): "
            f"{', '.join(n for n in PER_POLICY if n in wanted)} cannot be set per core"
        )
    for p in plan_controls(wanted, cores, {}, {}):
        if p.result is not None:
            return f"{p.name}: {p.result}: {p.message}"
    return None
