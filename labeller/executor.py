"""Carry out :class:`labeller.diff.Actions` through a :class:`labeller.writes.StateWriter`.

A failed write is logged, counted and retried on the next pass (the next diff finds it
again); it never aborts the other nodes' writes. What the server stored is fed back
into the caches at once, so the next pass does not write the same change again before
the watch delivers it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from joulie.api.v1alpha1 import npp_name
from joulie.core.plan import Plan
from joulie.core.store import ClusterStore
from labeller.diff import Actions, NodeActions, Release, Transition
from labeller.metrics import LabellerMetrics
from labeller.profiles import ProfileCache
from labeller.writes import StateWriter, WriteError

log = logging.getLogger(__name__)


@dataclass
class ReconcileResult:
    plan: Plan
    writes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)

    @property
    def write_count(self) -> int:
        return sum(self.writes.values())


class Executor:
    def __init__(
        self, store: ClusterStore, profiles: ProfileCache, writer: StateWriter, metrics: LabellerMetrics
    ) -> None:
        self.store = store
        self.profiles = profiles
        self.writer = writer
        self.metrics = metrics

    def execute(self, actions: Actions, result: ReconcileResult) -> None:
        policy = result.plan.policy
        for node_actions in actions.nodes:
            self._node(node_actions, policy, result)
        for release in actions.releases:
            self._release(release, result)
        for write in actions.policies:
            try:
                self.writer.patch_policy_status(write.policy, write.status)
                self._count(result, "policy-status", True)
            except WriteError as exc:
                self._count(result, "policy-status", False, f"{write.policy}: {exc}")
        for event in actions.policy_events:
            try:
                self.writer.emit_policy_event(event.policy, event.reason, event.message, event.type)
            except WriteError as exc:  # events are best effort
                log.warning("could not emit event for policy %s: %s", event.policy, exc)

    def _count(self, result: ReconcileResult, kind: str, ok: bool, err: str = "") -> None:
        self.metrics.count_write(kind, ok)
        if ok:
            result.writes[kind] = result.writes.get(kind, 0) + 1
        else:
            result.errors.append(err)

    def _node(self, actions: NodeActions, policy: str, result: ReconcileResult) -> None:
        name = actions.node
        if actions.profile is not None:
            try:
                stored = self.writer.apply_profile(actions.profile)
                self.profiles.upsert(stored if stored else actions.profile.to_api())
                self._count(result, "nodepowerprofile", True)
            except WriteError as exc:
                self._count(result, "nodepowerprofile", False, f"{name}: {exc}")
                return
            if actions.reverts_hand_edit:
                self._event(
                    name,
                    "ProfileReverted",
                    f"NodePowerProfile {npp_name(name)} was edited by hand; "
                    f"restored to {actions.profile.spec.profile} ({policy})",
                    "Warning",
                )
        if actions.labels:
            try:
                stored = self.writer.patch_node_labels(name, actions.labels)
                self._remember_labels(name, actions.labels, stored)
                self._count(result, "labels", True)
            except WriteError as exc:
                self._count(result, "labels", False, f"{name}: {exc}")
                return
        t = actions.transition
        if t is not None:
            result.transitions.append(t)
            self._event(
                name,
                f"PowerProfile{t.now.value}",
                f"{t.was.value if t.was else 'Unmanaged'} -> {t.now.value}: {t.reason}",
            )

    def _release(self, release: Release, result: ReconcileResult) -> None:
        try:
            self.writer.delete_profile(release.profile)
            self.profiles.delete(release.profile)
            self._count(result, "nodepowerprofile-delete", True)
        except WriteError as exc:
            self._count(result, "nodepowerprofile-delete", False, f"{release.profile}: {exc}")
            return
        if release.node is None:
            return
        if release.stale_labels:
            try:
                stored = self.writer.patch_node_labels(release.node, release.stale_labels)
                self._remember_labels(release.node, release.stale_labels, stored)
                self._count(result, "labels", True)
            except WriteError as exc:
                self._count(result, "labels", False, f"{release.node}: {exc}")
        self._event(release.node, "PowerProfileReleased", "node left Joulie management; profile removed")

    def _remember_labels(self, name: str, patch: Mapping[str, str | None], stored: Mapping[str, Any] | None) -> None:
        if stored:
            self.store.upsert_node(stored)
            return
        node = self.store.node(name)
        if node is not None:
            labels = {k: v for k, v in {**node.labels, **patch}.items() if v is not None}
            self.store.put_node(replace(node, labels=labels))

    def _event(self, node: str, reason: str, message: str, type_: str = "Normal") -> None:
        try:
            self.writer.emit_event(node, reason, message, type_)
        except WriteError as exc:  # events are best effort
            log.warning("could not emit event for %s: %s", node, exc)
