"""Which watch events reconcile at once (pure decisions on old/new records)."""

from __future__ import annotations

from joulie.core.model import NodeInfo, PodInfo
from joulie.core.selector import LabelSelector
from labeller.kube.triggers import node_trigger, pod_trigger, profile_trigger
from labeller.profiles import ObservedProfile
from tests.builders import node, pod

SELECTOR = LabelSelector.parse("joulie.io/managed=true")


def P(*a, **k) -> PodInfo:
    return PodInfo.from_api(pod(*a, **k))


def N(*a, **k) -> NodeInfo:
    return NodeInfo.from_api(node(*a, **k))


def never_draining(_: str) -> bool:
    return False


def test_new_pending_performance_pod_triggers_once() -> None:
    new = P("q", None, "performance")
    assert pod_trigger(None, new, never_draining) == "pod: default/q pending performance"
    assert pod_trigger(new, new, never_draining) is None  # a status update of the same pending pod


def test_pod_turning_unschedulable_triggers_but_general_pods_do_not() -> None:
    old, new = P("u", None, "eco"), P("u", None, "eco", unschedulable=True)
    assert pod_trigger(old, new, never_draining) == "pod: default/u unschedulable (eco)"
    assert pod_trigger(new, new, never_draining) is None
    assert pod_trigger(P("g", None), P("g", None, unschedulable=True), never_draining) is None


def test_performance_pod_leaving_a_draining_node_triggers() -> None:
    running = P("r", "n1", "performance")
    draining = {"n1"}.__contains__
    assert pod_trigger(running, None, draining) == "pod: performance pod default/r deleted on draining node n1"
    assert pod_trigger(running, P("r", "n1", "performance", phase="Succeeded"), draining).endswith(
        "finished on draining node n1"
    )
    assert pod_trigger(running, None, never_draining) is None  # not draining: the tick will do
    assert pod_trigger(P("g", "n1"), None, draining) is None  # general pods do not hold a drain


def test_node_changes_that_matter_and_our_own_label_writes_that_do_not() -> None:
    a = N("a")
    assert node_trigger(None, a, SELECTOR) == "node: a added"
    assert node_trigger(a, None, SELECTOR) == "node: a removed"
    assert node_trigger(a, N("a", managed=False), SELECTOR) == "node: a left management"
    assert node_trigger(a, N("a", unschedulable=True), SELECTOR) == "node: a cordoned"
    assert node_trigger(a, N("a", **{"joulie.io/reserved": "true"}), SELECTOR) == "node: a reserved"
    assert node_trigger(a, N("a", profile="eco", draining=True), SELECTOR) is None


def test_profile_edits_by_others_and_deletes_trigger_our_echoes_do_not() -> None:
    obj = {"metadata": {"name": "node-a"}, "spec": {"nodeName": "a", "profile": "eco"}}
    seen = ObservedProfile.from_api(obj)
    assert profile_trigger(seen, obj) is None
    edited = {"metadata": {"name": "node-a"}, "spec": {"nodeName": "a", "profile": "performance"}}
    assert profile_trigger(seen, edited) == "profile: node-a edited"
    assert profile_trigger(seen, None) == "profile: node-a deleted"
    assert profile_trigger(None, None) is None
