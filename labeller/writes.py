"""What the labeller writes to a cluster, as an interface: the Kubernetes adapter, the
in-memory cluster of the simulator and ``--dry-run`` each implement it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from joulie.api.v1alpha1 import NodePowerProfile


class WriteError(Exception):
    """A write the API refused or could not take; the message says which and why."""


class StateWriter(Protocol):
    """Writes to the cluster. Writes return the object the server stored (or ``None``),
    which the executor feeds back into its caches so that it does not rewrite the
    same change before the watch catches up."""

    def patch_node_labels(self, node: str, labels: Mapping[str, str | None]) -> Mapping[str, Any] | None: ...

    def apply_profile(self, profile: NodePowerProfile) -> Mapping[str, Any] | None: ...

    def delete_profile(self, name: str) -> None: ...

    def emit_event(self, node: str, reason: str, message: str, type_: str = "Normal") -> None: ...

    def patch_policy_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Replace the ``status`` of PowerCappingPolicy ``name`` (merge patch of the status subresource)."""

    def emit_policy_event(self, policy: str, reason: str, message: str, type_: str = "Normal") -> None: ...
