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
from extender.racks import RackLimits
from extender.scoring import ScoreTables, scores_for
from extender.supply import SupplyIndex
from extender.wire import BadRequest, ExtenderArgs, PodFacts, filter_reply
from joulie.api.labels import PERFORMANCE
from joulie.core.facility import ThermalReadings
from joulie.core.model import NodeInfo, PodInfo
from joulie.core.plan import Eligibility, Plan, eligibility
from joulie.core.selector import LabelSelector
from joulie.core.store import ClusterStore
from joulie.core.supply import PASSED, REJECTED_POWER, Verdict, node_supply, packed_score, pod_profile_rule

log = logging.getLogger(__name__)


CANDIDATE_SLACK = 1000
"""Candidate nodes a request may name beyond twice the store's nodes (nodes the watch has not
delivered yet, names the extender does not manage)."""
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
        thermal: ThermalReadings | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.runtime = runtime
        self.thermal = thermal
        """Inlet temperatures (the facility collectors), shown per node in ``/plan`` as ``inletTempC``."""
        self.wall_clock = wall_clock
        self.metrics = metrics if metrics is not None else ExtenderMetrics()
        self.assumed = AssumedPods(assumed_ttl_seconds)
        self._index: SupplyIndex | None = None
        self._index_lock = threading.Lock()
        self.scores = ScoreTables()
        self.power = power
        """Power-aware prioritize (``--power-aware-scoring``); ``None`` keeps the packing score."""
        self.racks = RackLimits(curve_of=power.curve if power is not None else None)
        """Rack power limits of the PowerCappingPolicies (only consulted when a plan has some)."""
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

    def check_candidates(self, args: ExtenderArgs) -> None:
        """Refuse candidate lists far longer than the cluster: kube-scheduler only sends nodes it
        knows, and answering half a million made-up names costs seconds of CPU and gigabytes."""
        cap = CANDIDATE_SLACK + 2 * len(self.runtime.store)
        if len(args.names) > cap:
            raise BadRequest(
                f"{len(args.names)} candidate nodes, but the cluster has {len(self.runtime.store)}; "
                f"at most {cap} are answered"
            )

    def filter(self, args: ExtenderArgs) -> FilterAnswer:
        self.check_candidates(args)
        demand = args.pod.demand
        idx = self.index()
        # In names mode the reply is a pure function of (candidates, demand class, plan,
        # and the store for nodes outside the plan): the scheduler sends the same
        # candidate tuple (shared by the wire layer) pod after pod, so reuse it.
        key = (id(args.names), demand)
        memo = not args.full and not idx.rack_limited  # rack room depends on the pod's size and recent placements
        hit = self._filter_memo.get(key) if memo else None
        if (
            hit is not None
            and hit.names is args.names
            and hit.supply_index is idx
            and hit.store_version in (None, self.runtime.store.version)
        ):
            body, passed, rejected, counts = hit.answer
        else:
            body, passed, rejected, counts, used_store = self._filter(args, idx)
            if memo:
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
        tally = Counter(map(itemgetter(1), complete))  # Verdict.decision
        if idx.rack_limited and idx.plan is not None and passed:
            self.scores.refresh(idx, self.runtime.store)  # nodes and requested CPU, once per store version
            room = self.racks.room(
                idx.plan.guards, self.scores, self.assumed.cpu_by_node(self._settled, exclude=args.pod.uid)
            )
            passed, dropped = self.racks.filter(room, args.pod, names, passed)
            if dropped:
                unresolvable.update(dropped)
                tally[PASSED] -= len(dropped)
                tally[REJECTED_POWER] += len(dropped)
        counts = [(decision, n) for decision, n in tally.items() if n]
        return filter_reply(args, passed, unresolvable), len(passed), len(unresolvable), counts, used_store

    def _pending(self, facts: PodFacts) -> PodInfo | None:
        """The pod as the store knows it, when it is pending there under the same uid, namespace and
        name. A request alone proves nothing: anybody who can reach the port can send one."""
        known = self.runtime.store.pod(facts.uid)
        if known is None or known.key != facts.key or known.node_name is not None or not known.active:
            return None
        return known

    def _unplaceable(self, args: ExtenderArgs) -> PodInfo | None:
        """The pod, when the store knows it as this pending performance pod and it was not
        reported within the cooldown."""
        facts = args.pod
        known = self._pending(facts)
        if known is None or known.demand != PERFORMANCE:
            log.debug("filter left no node for a pod the cluster does not show pending", extra={"pod": facts.key})
            return None
        if self._reported.get(known.uid):
            return None
        self._reported[known.uid] = True
        log.info("performance pod found no node", extra={"pod": known.key, "candidates": len(args.names)})
        self.metrics.unmet_reports.inc()
        return known

    def prioritize(self, args: ExtenderArgs) -> bytes:
        self.check_candidates(args)
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
        if idx.rack_limited and idx.plan is not None:
            scores = self.racks.adjust(self.racks.room(idx.plan.guards, boards, assumed), pod, args.names, scores)
        if scores and p > 0 and self._pending(pod) is not None:
            # only pods the cluster shows pending: forged uids must not fill the table or skew fills
            best = scores.index(max(scores))  # first of the best on ties
            self.assumed.assume(pod.uid, args.names[best], p)
            self.metrics.assumed.inc()
        return boards.encode(args.names, scores)

    # ------------------------------------------------------------ /plan

    def plan_view(self, nodes: Sequence[str] = ()) -> tuple[int, bytes]:
        """The labeller's latest plan with reasons, or the lines of the nodes asked for (``?node=a&node=b``).

        Nodes outside the plan are explained in ``unmanagedNodes`` (and, for a single node, in
        ``unmanaged``); names Joulie has never seen are listed in ``unknownNodes``, and only when
        none of the nodes asked for is known is the answer a 404.
        """
        plan = self.runtime.latest_plan()
        if plan is None:
            return 503, orjson.dumps({"error": "no plan yet: the labeller has not reconciled since start"})
        body: dict[str, Any] = plan.to_json()
        if not nodes:
            body["assumedPods"] = len(self.assumed)
            return 200, orjson.dumps(self._node_extras(body, plan))
        wanted = list(dict.fromkeys(nodes))
        body["nodes"] = [d.to_json() for n in wanted if (d := plan.decision(n)) is not None]
        skipped = {s["name"]: s for s in body["skipped"]}
        body["skipped"] = [skipped[n] for n in wanted if n in skipped]
        unmanaged, unknown = [], []
        for name in wanted:
            if plan.decision(name) is not None or name in skipped:
                continue
            info = self.runtime.store.node(name)
            if info is None:
                unknown.append(name)
                continue
            unmanaged.append({"name": name, "reason": self._unmanaged_reason(info)})
        if len(unknown) == len(wanted):
            names = ", ".join(repr(n) for n in unknown)
            return 404, orjson.dumps({"error": f"node {names} is not known to Joulie"})
        if unmanaged:
            body["unmanagedNodes"] = unmanaged
            if len(wanted) == 1:
                body["unmanaged"] = unmanaged[0]
        if unknown:
            body["unknownNodes"] = unknown
        return 200, orjson.dumps(self._node_extras(body, plan))

    def _node_extras(self, body: dict[str, Any], plan: Plan) -> dict[str, Any]:
        """What each node does with pod power profiles (:mod:`joulie.core.supply`), and its fresh inlet
        temperature when the facility collectors read one."""
        now = self.wall_clock()
        for line in body["nodes"]:
            line["podProfiles"] = pod_profile_rule(node_supply(line["name"], plan, None, self.runtime.selector))
            reading = self.thermal.inlet_temperature(line["name"], now) if self.thermal is not None else None
            if reading is not None:
                line["inletTempC"] = round(reading.value, 1)
        return body

    def _unmanaged_reason(self, info: NodeInfo) -> str:
        verdict = eligibility(info, self.runtime.selector)
        if verdict is Eligibility.NOT_SELECTED:
            return (
                f"not managed: labels do not match the node selector {self.runtime.selector.text!r}; "
                "the extender passes it untouched"
            )
        if verdict is Eligibility.ELIGIBLE:
            return "eligible but not in the latest plan (added since); judged by its labels until the next reconcile"
        return verdict.reason
