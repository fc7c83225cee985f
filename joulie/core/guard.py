"""Downgrade guard: the per-node state machine of CONTRACT §3.

A node the policy plans as eco while performance pods still run on it is not
simply capped: it becomes ``DrainingPerformance`` (labels ``power-profile=eco``,
``draining=true``), so the scheduler stops sending performance pods there while
the running ones finish. Nothing is evicted. When the last one is gone the node
becomes ``ActiveEco`` (``draining=false``).

::

    ActivePerformance --planned eco, perf pods > 0--> DrainingPerformance
    ActivePerformance --planned eco, no perf pods---> ActiveEco
    DrainingPerformance --no perf pods left---------> ActiveEco
    any state --planned performance-----------------> ActivePerformance
"""

from __future__ import annotations

import enum

from joulie.api.labels import ECO, PERFORMANCE, Profile


class NodeState(str, enum.Enum):
    ACTIVE_PERFORMANCE = "ActivePerformance"
    DRAINING_PERFORMANCE = "DrainingPerformance"
    ACTIVE_ECO = "ActiveEco"

    @property
    def profile(self) -> Profile:
        return PERFORMANCE if self is NodeState.ACTIVE_PERFORMANCE else ECO

    @property
    def draining(self) -> bool:
        return self is NodeState.DRAINING_PERFORMANCE

    @classmethod
    def from_labels(cls, profile: str | None, draining: bool) -> NodeState | None:
        """State a node's labels currently advertise (``None`` for an unlabelled node)."""
        if profile == PERFORMANCE:
            return cls.ACTIVE_PERFORMANCE
        if profile == ECO:
            return cls.DRAINING_PERFORMANCE if draining else cls.ACTIVE_ECO
        return None


def guard(planned: Profile, performance_pods: int) -> NodeState:
    """State a node must be in, given the planned profile and its running performance pods.

    The state depends only on these two inputs, which is what makes the guard safe
    across restarts: there is no hidden memory that could forget a draining node.
    """
    if planned == PERFORMANCE:
        return NodeState.ACTIVE_PERFORMANCE
    if performance_pods > 0:
        return NodeState.DRAINING_PERFORMANCE
    return NodeState.ACTIVE_ECO


def is_safe(state: NodeState, performance_pods: int) -> bool:
    """The invariant: a node running performance pods is never eco without draining."""
    return not (state is NodeState.ACTIVE_ECO and performance_pods > 0)
