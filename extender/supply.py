"""Per-plan lookup tables of each node's verdict, so a request costs a dict lookup per node.

The scheduler sends every candidate node on every call (5000 names, serially, for
every pod). Re-deriving each node's supply from the plan and its labels per call
would dominate the request, so the verdicts of the nodes the plan knows are
computed once per plan and per demand class. Nodes outside the plan (unmanaged,
or new since the last plan) fall back to their labels via
:func:`joulie.core.supply.node_supply`, memoised per :class:`NodeInfo` object so a
label change is seen at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from joulie.api.labels import DemandClass
from joulie.core.budget import guard_rejection
from joulie.core.model import NodeInfo
from joulie.core.plan import Plan
from joulie.core.selector import LabelSelector
from joulie.core.supply import REJECTED_POWER, Supply, Verdict, node_supply, verdict

_NOT_IN_PLAN = object()


class SupplyIndex:
    """Verdicts of the nodes in one plan; thread-safe to read, rebuilt when the plan changes."""

    def __init__(self, plan: Plan | None, selector: LabelSelector) -> None:
        self.plan = plan
        self.selector = selector
        self._verdicts: dict[tuple[str, Supply | None], Verdict] = {}
        self._supply: dict[str, Supply | None] = {}
        if plan is not None:
            # node_supply() of a node in the plan, shared per node state: a new plan
            # (every reconcile) must not cost a Python call per node before it is served.
            by_state: dict[object, Supply] = {}
            for d in plan.nodes:
                s = by_state.get(d.state)
                if s is None:
                    s = by_state[d.state] = node_supply(d.name, plan, None, selector)  # type: ignore[assignment]
                self._supply[d.name] = s
            self._supply.update(dict.fromkeys(plan.skipped))
        self._tables: dict[str, dict[str, Verdict]] = {}
        self._lock = threading.Lock()
        self._by_labels: dict[int, tuple[NodeInfo, Supply | None]] = {}
        guards = plan.guards if plan is not None else {}
        self.rack_limited = any(g.rack_headroom_watts is not None for g in guards.values())
        """Some node's rack has a power limit: the filter must look at each pod's size."""

    def table(self, demand: DemandClass) -> dict[str, Verdict]:
        """name -> verdict for every node the plan knows."""
        t = self._tables.get(demand)
        if t is None:
            per_supply = {s: self.verdict(demand, s) for s in set(self._supply.values())}
            t = dict(zip(self._supply, map(per_supply.__getitem__, self._supply.values())))
            for name, guard in self.plan.guards.items() if self.plan is not None else ():
                v = t.get(name)
                why = guard_rejection(demand, guard) if v is not None and v.reason is None else None
                if v is not None and why is not None:
                    t[name] = Verdict(why, REJECTED_POWER, v.band)
            with self._lock:
                self._tables[demand] = t
        return t

    def verdict(self, demand: DemandClass, supply: Supply | None) -> Verdict:
        """Verdict for a node outside the plan (few distinct supplies: memoised)."""
        key = (demand, supply)
        v = self._verdicts.get(key)
        if v is None:
            v = self._verdicts[key] = verdict(demand, supply)
        return v

    def supply(self, name: str, labels: Mapping[str, str] | None) -> Supply | None:
        """Supply of one node: the plan's verdict, else from ``labels``."""
        s = self._supply.get(name, _NOT_IN_PLAN)
        if s is not _NOT_IN_PLAN:
            return s  # type: ignore[return-value]
        return node_supply(name, None, labels, self.selector)

    def supply_from_store(self, name: str, node_of: Callable[[str], NodeInfo | None]) -> Supply | None:
        """Supply of a node outside the plan, from the store's labels (memoised per node object)."""
        node = node_of(name)
        if node is None:
            return None
        hit = self._by_labels.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        s = node_supply(name, None, node.labels, self.selector)
        with self._lock:
            if len(self._by_labels) > 50_000:
                self._by_labels.clear()
            self._by_labels[id(node)] = (node, s)
        return s
