"""Which watch events deserve an immediate reconcile. Pure functions of old and new records.

The periodic tick catches everything eventually; these triggers exist so that the
events a user waits on (a performance pod queued, a pod the scheduler cannot place,
the last performance pod leaving a draining node, a node joining or leaving
management, a NodePowerProfile edited by hand) are acted on within the debounce
window. Unrelated pod churn (general pods coming and going, status updates of
running pods) returns ``None``, so a busy cluster does not plan on every event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from joulie.api.labels import GENERAL, PERFORMANCE
from joulie.core.model import NodeInfo, PodInfo
from joulie.core.selector import LabelSelector
from labeller.profiles import ObservedProfile


def _pending_performance(pod: PodInfo | None) -> bool:
    return pod is not None and pod.active and pod.demand == PERFORMANCE and pod.node_name is None


def pod_trigger(old: PodInfo | None, new: PodInfo | None, is_draining: Callable[[str], bool]) -> str | None:
    """The reason to reconcile now for a pod change, or ``None``."""
    if new is not None and _pending_performance(new) and not _pending_performance(old):
        return f"pod: {new.key} pending performance"
    if (
        new is not None
        and new.active
        and new.unschedulable
        and new.demand != GENERAL
        and not (old is not None and old.unschedulable)
    ):
        return f"pod: {new.key} unschedulable ({new.demand})"
    if _pending_performance(old) and old is not None and old.unschedulable and not _pending_performance(new):
        # it may have held a node performance (feedback): let the plan release it
        return f"pod: {old.key} no longer waiting for a performance node"
    if old is not None and old.active and old.demand == PERFORMANCE and old.node_name is not None:
        left = new is None or not new.active or new.node_name != old.node_name
        if left and is_draining(old.node_name):
            how = "deleted" if new is None else ("finished" if not new.active else "moved")
            return f"pod: performance pod {old.key} {how} on draining node {old.node_name}"
    return None


def node_trigger(old: NodeInfo | None, new: NodeInfo | None, selector: LabelSelector) -> str | None:
    """The reason to reconcile now for a node change, or ``None`` (our own label writes return ``None``)."""
    if old is None and new is None:
        return None
    if old is None:
        assert new is not None
        return f"node: {new.name} added"
    if new is None:
        return f"node: {old.name} removed"
    if selector.matches(old.labels) != selector.matches(new.labels):
        return f"node: {new.name} {'joined' if selector.matches(new.labels) else 'left'} management"
    if old.reserved != new.reserved:
        return f"node: {new.name} {'reserved' if new.reserved else 'unreserved'}"
    if old.unschedulable != new.unschedulable:
        return f"node: {new.name} {'cordoned' if new.unschedulable else 'uncordoned'}"
    return None


def nodes_relist_trigger(
    before: Mapping[str, NodeInfo], after: Mapping[str, NodeInfo], selector: LabelSelector
) -> str | None:
    """After a relist: did anything a trigger watches change while we were not watching?"""
    for name in sorted(before.keys() | after.keys()):
        reason = node_trigger(before.get(name), after.get(name), selector)
        if reason is not None:
            return f"{reason} (relist)"
    return None


def profile_trigger(old: ObservedProfile | None, new: Mapping[str, Any] | None) -> str | None:
    """A NodePowerProfile whose spec changed under us, or that was deleted.

    The cache holds what the labeller last wrote or saw: the echo of our own write
    carries the same spec and returns ``None``; our own deletes leave the cache
    first, so their echo finds nothing to compare with.
    """
    if new is None:
        return f"profile: {old.name} deleted" if old is not None else None
    observed = ObservedProfile.from_api(new)
    if old is not None and old.spec != observed.spec:
        return f"profile: {observed.name} edited"
    return None


__all__ = ["node_trigger", "nodes_relist_trigger", "pod_trigger", "profile_trigger"]
