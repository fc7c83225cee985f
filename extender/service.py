"""The extender's request logic: parsed request -> decisions (:mod:`joulie.core.supply`) -> reply bytes.

No HTTP here (see :mod:`extender.app`), so tests and the benchmark drive it directly.
Every replica answers from its own caches and the latest plan; the only side
effects are remembering assumed pods and telling the labeller that a pending
performance pod it knows found no node.

Threads: :mod:`extender.app` runs every verb on one worker thread, so the memo and
score tables here are confined to it (no lock on their hot path); the labeller's
store, plan and the assumed-pods table are shared with other threads and guard
themselves.
"""

from __future__ import annotations

import logging
import operator
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, cast

import orjson
from cachetools import TTLCache

from extender.assumed import AssumedPods
from extender.metrics import ExtenderMetrics
from extender.power import PowerScores
from extender.scoring import ScoreTables, scores_for
from extender.supply import SupplyIndex
from extender.wire import ExtenderArgs, filter_reply
from joulie.api.labels import PERFORMANCE
from joulie.core.model import PodInfo
from joulie.core.plan import Eligibility, Plan, eligibility
from joulie.core.selector import LabelSelector
from joulie.core.store import ClusterStore
from joulie.core.supply import Verdict, packed_score

log = logging.getLogger(__name__)


REPORT_COOLDOWN_SECONDS = 15.0
"""A pod the scheduler retries asks for one reconcile per this window, not one per attempt."""


class LabellerView(Protocol):
    """What the extender reads from the labeller it runs beside."""

    store: ClusterStore
    selector: LabelSelector

    def latest_plan(self) -> Plan | None: ...

    def unplaceable(self, pod: PodInfo) -> None: ...

    def ready(self) -> tuple[bool, str]: ...

    def healthy(self) -> tuple[bool, str]: ...


@dataclass(frozen=True, slots=True)
class FilterAnswer:
    body: bytes
    passed: int
    rejected: int
    unplaceable: PodInfo | None = None
    """A pending performance pod the store knows and no node was left for: tell the labeller."""


class _FilterMemo(NamedTuple):
    names: Sequence[str]
    supply_index: SupplyIndex
    store_version: int | None
    """The store version the reply depended on (``None``: only the plan)."""
    answer: tuple[bytes, int, int, list[tuple[str, int]]]


class ExtenderService:
    def __init__(
        self,
        runtime: LabellerView,
        metrics: ExtenderMetrics | None = None,
        assumed_ttl_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        power: PowerScores | None = None,
    ) -> None:
        self.runtime = runtime
        self.metrics = metrics if metrics is not None else ExtenderMetrics()
        self.assumed = AssumedPods(assumed_ttl_seconds)
        self._index: SupplyIndex | None = None
        self._index_lock = threading.Lock()
        self.scores = ScoreTables()
        self.power = power
        """Power-aware prioritize (``--power-aware-scoring``); ``None`` keeps the packing score."""
        self._filter_memo: dict[tuple[int, str], _FilterMemo] = {}
        self._reported: TTLCache[str, bool] = TTLCache(maxsize=10_000, ttl=REPORT_COOLDOWN_SECONDS, timer=clock)

    # ------------------------------------------------------------ lookup tables

    def index(self) -> SupplyIndex:
        """The verdict tables of the latest plan (rebuilt once when a new plan appears)."""
        plan = self.runtime.latest_plan()
        idx = self._index
        if idx is not None and idx.plan is plan and idx.selector is self.runtime.selector:
            return idx
        with self._index_lock:
            idx = self._index
            if idx is None or idx.plan is not plan or idx.selector is not self.runtime.selector:
                idx = self._index = SupplyIndex(plan, self.runtime.selector)
            return idx

    def _settled(self, uid: str) -> bool:
        pod = self.runtime.store.pod(uid)
        return pod is not None and (pod.node_name is not None or not pod.active)

    # ------------------------------------------------------------ verbs

    def filter(self, args: ExtenderArgs) -> FilterAnswer:
        demand = args.pod.demand
        idx = self.index()
        # In names mode the reply is a pure function of (candidates, demand class, plan,
        # and the store for nodes outside the plan): the scheduler sends the same
        # candidate tuple (shared by the wire layer) pod after pod, so reuse it.
        key = (id(args.names), demand)
        hit = self._filter_memo.get(key) if not args.full else None
        if (
            hit is not None
            and hit.names is args.names
            and hit.supply_index is idx
            and hit.store_version in (None, self.runtime.store.version)
        ):
            body, passed, rejected, counts = hit.answer
        else:
            body, passed, rejected, counts, used_store = self._filter(args, idx)
            if not args.full:
                if len(self._filter_memo) >= 8:
                    self._filter_memo.clear()
                version = self.runtime.store.version if used_store else None
                self._filter_memo[key] = _FilterMemo(args.names, idx, version, (body, passed, rejected, counts))
        for decision, n in counts:
            self.metrics.decisions.labels(demand=demand, decision=decision).inc(n)
        unplaceable = None
        if demand == PERFORMANCE and not passed and rejected:
            unplaceable = self._unplaceable(args)
        return FilterAnswer(body, passed, rejected, unplaceable)

    def _filter(self, args: ExtenderArgs, idx: SupplyIndex) -> tuple[bytes, int, int, list[tuple[str, int]], bool]:
        demand = args.pod.demand
        names = args.names
        # C-level passes (map, compress, Counter) over the verdict tables: a Python
        # loop over 5000 names would cost more than the rest of the request.
        verdicts = list(map(idx.table(demand).get, names))
        used_store = None in verdicts
        if used_store:
            node_of = self.runtime.store.node
            for i, v in enumerate(verdicts):
                if v is None:
                    supply = (
                        idx.supply(names[i], args.labels[i]) if args.full else idx.supply_from_store(names[i], node_of)
                    )
                    verdicts[i] = idx.verdict(demand, supply)
        complete = cast("list[Verdict]", verdicts)  # every None was filled in above
        reasons = list(map(itemgetter(0), complete))  # Verdict.reason, at C speed
        passed = list(compress(range(len(names)), map(operator.is_, reasons, repeat(None))))
        unresolvable = dict(compress(zip(names, reasons), map(operator.is_not, reasons, repeat(None))))
        counts = list(Counter(map(itemgetter(1), complete)).items())  # Verdict.decision
        return filter_reply(args, passed, unresolvable), len(passed), len(unresolvable), counts, used_store

    def _unplaceable(self, args: ExtenderArgs) -> PodInfo | None:
        """The pod, when the store knows it as this pending performance pod (uid, namespace and name
        match) and it was not reported within the cooldown. A request alone never counts as demand:
        anybody can send one."""
        facts = args.pod
        known = self.runtime.store.pod(facts.uid)
        if (
            known is None
            or known.key != facts.key
            or known.demand != PERFORMANCE
            or known.node_name is not None
            or not known.active
        ):
            log.debug("filter left no node for a pod the cluster does not show pending", extra={"pod": facts.key})
            return None
        if self._reported.get(known.uid):
            return None
        self._reported[known.uid] = True
        log.info("performance pod found no node", extra={"pod": known.key, "candidates": len(args.names)})
        self.metrics.unmet_reports.inc()
        return known

    def prioritize(self, args: ExtenderArgs) -> bytes:
        pod = args.pod
        idx = self.index()
        verdicts = idx.table(pod.demand)
        store = self.runtime.store
        boards = self.scores
        p = pod.cpu_millis
        assumed = self.assumed.cpu_by_node(self._settled, exclude=pod.uid)
        boards.refresh(idx, store)

        def slow(i: int, name: str, assumed_millis: int) -> int:
            v = verdicts.get(name)
            if v is None:
                supply = idx.supply(name, args.labels[i]) if args.full else idx.supply_from_store(name, boards.node)
                v = idx.verdict(pod.demand, supply)
            node = boards.node(name)
            alloc = node.cpu_allocatable_millis if node is not None else 0
            return packed_score(v.band, boards.requested(name) + assumed_millis + p, alloc)

        if self.power is not None:
            scores = self.power.scores(args, idx, store, assumed)
        elif args.full:  # request labels decide nodes outside the plan; parsing dominates anyway
            scores = [slow(i, name, assumed.get(name, 0)) for i, name in enumerate(args.names)]
        else:
            scores = scores_for(args.names, boards.table(idx, store, pod.demand, p), assumed, slow)
        if scores and p > 0:
            best = scores.index(max(scores))  # first of the best on ties
            self.assumed.assume(pod.uid, args.names[best], p)
            self.metrics.assumed.inc()
        return boards.encode(args.names, scores)

    # ------------------------------------------------------------ /plan

    def plan_view(self, node: str | None = None) -> tuple[int, bytes]:
        """The labeller's latest plan with reasons, or one node's line of it (``?node=``)."""
        plan = self.runtime.latest_plan()
        if plan is None:
            return 503, orjson.dumps({"error": "no plan yet: the labeller has not reconciled since start"})
        body: dict[str, Any] = plan.to_json()
        if node is None:
            body["assumedPods"] = len(self.assumed)
            return 200, orjson.dumps(body)
        decision = plan.decision(node)
        body["nodes"] = [decision.to_json()] if decision is not None else []
        body["skipped"] = [s for s in body["skipped"] if s["name"] == node]
        if decision is None and not body["skipped"]:
            info = self.runtime.store.node(node)
            if info is None:
                return 404, orjson.dumps({"error": f"node {node!r} is not known to Joulie"})
            verdict = eligibility(info, self.runtime.selector)
            if verdict is Eligibility.NOT_SELECTED:
                why = (
                    f"not managed: labels do not match the node selector {self.runtime.selector.text!r}; "
                    "the extender passes it untouched"
                )
            elif verdict is Eligibility.ELIGIBLE:
                why = "eligible but not in the latest plan (added since); judged by its labels until the next reconcile"
            else:
                why = verdict.reason
            body["unmanaged"] = {"name": node, "reason": why}
        return 200, orjson.dumps(body)
