"""Prioritize at scale: per-node scores computed once per cluster state, then looked up.

Scoring one node is a handful of lookups and a division, but Python pays ~1 µs
for that, and the scheduler sends every candidate (5000 nodes) serially for every
pod. So the scores of every node the store knows are computed in one pass per
(plan, store version, pod demand class, pod CPU request) and kept; a request then
costs a C-level ``map`` over the names. Assumed pods (a handful of nodes) are
applied per request on top, and the reply is assembled from cached per-host JSON
fragments.

The formula is :func:`joulie.core.supply.packed_score`, the one the simulator uses too.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import orjson

from extender.supply import SupplyIndex
from joulie.api.labels import DemandClass
from joulie.core.model import NodeInfo
from joulie.core.store import ClusterStore
from joulie.core.supply import MAX_SCORE, packed_score

_MAX_TABLES = 64
_FEW_ASSUMED = 32
_MAX_FRAGMENTS = 50_000


class ScoreTables:
    """name -> score for every node in the store, per (demand, pod CPU); dropped when the state changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: tuple[object, int] | None = None
        self._tables: dict[tuple[str, int], dict[str, int]] = {}
        self._nodes: Mapping[str, NodeInfo] = {}
        self._requested: Mapping[str, int] = {}
        self._fragments: dict[str, tuple[bytes, ...]] = {}

    def refresh(self, idx: SupplyIndex, store: ClusterStore) -> None:
        state = (idx, store.version)
        if state != self._state:
            snap = store.snapshot()
            with self._lock:
                self._nodes, self._requested = snap.nodes, snap.cpu_requested_millis
                self._tables = {}
                self._state = (idx, snap.resource_version)

    def node(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    def requested(self, name: str) -> int:
        return self._requested.get(name, 0)

    def table(self, idx: SupplyIndex, store: ClusterStore, demand: DemandClass, pod_millis: int) -> dict[str, int]:
        self.refresh(idx, store)
        key = (demand, pod_millis)
        t = self._tables.get(key)
        if t is not None:
            return t
        verdicts = idx.table(demand)
        requested = self._requested
        nodes = self._nodes
        t = {}
        for name, node in nodes.items():
            v = verdicts.get(name)
            if v is None:
                v = idx.verdict(demand, idx.supply_from_store(name, nodes.get))
            t[name] = packed_score(v.band, requested.get(name, 0) + pod_millis, node.cpu_allocatable_millis)
        with self._lock:
            if len(self._tables) >= _MAX_TABLES:
                self._tables.clear()
            self._tables[key] = t
        return t

    def encode(self, names: Sequence[str], scores: Sequence[int]) -> bytes:
        """``HostPriorityList`` JSON: ``[{"Host": name, "Score": n}, ...]``, integers 0..10."""
        fragments = self._fragments
        parts: list[tuple[bytes, ...] | None] = list(map(fragments.get, names))
        if None in parts:
            if len(fragments) > _MAX_FRAGMENTS:
                fragments.clear()
            known = self._nodes
            for i, part in enumerate(parts):
                if part is None:
                    head = b'{"Host":' + orjson.dumps(names[i]) + b',"Score":'
                    part = tuple(head + b"%d}" % k for k in range(MAX_SCORE + 1))
                    if names[i] in known:  # only the cluster's nodes are remembered: names in a request are not
                        fragments[names[i]] = part
                    parts[i] = part
        filled = cast("list[tuple[bytes, ...]]", parts)  # every None was replaced above
        return b"[" + b",".join(map(operator.getitem, filled, scores)) + b"]"


def scores_for(
    names: Sequence[str],
    table: Mapping[str, int],
    assumed: Mapping[str, int],
    slow: Callable[[int, str, int], int],
) -> list[int]:
    """Scores of ``names``: table lookups, ``slow(i, name, assumed_millis)`` for the rest.

    The rest are nodes the store does not know and nodes with assumed pods on them.
    """
    scores: list[int | None] = list(map(table.get, names))
    if assumed and len(assumed) <= _FEW_ASSUMED:
        for name in assumed:  # C-level scans beat a Python pass over 5000 names
            start = 0
            while True:
                try:
                    i = names.index(name, start)
                except ValueError:
                    break
                scores[i] = None
                start = i + 1
    elif assumed:
        scores = [None if n in assumed else s for n, s in zip(names, scores)]
    if None in scores:
        for i, s in enumerate(scores):
            if s is None:
                scores[i] = slow(i, names[i], assumed.get(names[i], 0))
    return scores  # type: ignore[return-value]


__all__ = ["ScoreTables", "scores_for"]
