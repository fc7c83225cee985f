"""An in-memory cluster that takes the reconciler's writes: for the simulator and offline runs.

Writes land in the same :class:`ClusterStore` and :class:`ProfileCache` the
reconciler reads, exactly as a watch would deliver them from a real API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from joulie.api.v1alpha1 import NodePowerProfile
from joulie.core.store import ClusterStore
from labeller.budgets.source import PolicyCache
from labeller.profiles import ProfileCache
from labeller.writes import WriteError


@dataclass
class RecordedEvent:
    node: str
    reason: str
    message: str
    type: str


@dataclass
class InMemoryCluster:
    store: ClusterStore
    profiles: ProfileCache
    events: list[RecordedEvent] = field(default_factory=list)
    writes: int = 0
    generation: dict[str, int] = field(default_factory=dict)
    policies: PolicyCache | None = None
    """Where policy status writes land, as a watch would deliver them."""
    policy_statuses: dict[str, dict[str, Any]] = field(default_factory=dict)

    def patch_node_labels(self, node: str, labels: Mapping[str, str | None]) -> Mapping[str, Any] | None:
        info = self.store.node(node)
        if info is None:
            raise WriteError(f'nodes "{node}" not found')
        merged = {k: v for k, v in {**info.labels, **labels}.items() if v is not None}
        self.store.put_node(replace(info, labels=merged))
        self.writes += 1
        return None

    def apply_profile(self, profile: NodePowerProfile) -> Mapping[str, Any] | None:
        obj = profile.to_api()
        name = obj["metadata"]["name"]
        current = self.profiles.get(name)
        if current is None or current.spec != obj["spec"]:
            self.generation[name] = self.generation.get(name, 0) + 1
        obj["metadata"]["generation"] = self.generation[name]
        if current is not None and current.power is not None:
            obj["status"] = {"power": current.power.to_api()}  # a spec write keeps the status, as the API does
        self.profiles.upsert(obj)
        self.writes += 1
        return obj

    def delete_profile(self, name: str) -> None:
        if self.profiles.get(name) is None:
            raise WriteError(f'nodepowerprofiles "{name}" not found')
        self.profiles.delete(name)
        self.generation.pop(name, None)
        self.writes += 1

    def emit_event(self, node: str, reason: str, message: str, type_: str = "Normal") -> None:
        self.events.append(RecordedEvent(node, reason, message, type_))

    def emit_policy_event(self, policy: str, reason: str, message: str, type_: str = "Normal") -> None:
        self.events.append(RecordedEvent(f"PowerCappingPolicy/{policy}", reason, message, type_))

    def patch_policy_status(self, name: str, status: Mapping[str, Any]) -> None:
        self.policy_statuses[name] = dict(status)
        if self.policies is not None:
            current = self.policies.get(name)
            if current is not None:
                self.policies.upsert(
                    {
                        "metadata": {"name": name, "generation": current.generation},
                        "spec": current.spec.to_api() if current.spec else {},
                        "status": dict(status),
                    }
                )
        self.writes += 1
