"""The kube-scheduler extender wire format (CONTRACT §5): parse requests, encode replies.

The scheduler's extender types have no JSON tags, so every key is a Go field name in
PascalCase: ``{"Pod", "Nodes", "NodeNames"}`` in, ``ExtenderFilterResult`` and
``HostPriorityList`` out.

Speed matters because scheduling is serial: a request in full mode
(``nodeCacheCapable: false``) carries every candidate Node object, tens of MB at
5000 nodes. We therefore never build Python objects for whole nodes: msgspec reads
each item of ``Nodes.items`` as a :class:`msgspec.Raw` (a slice of the request
bytes), decodes only ``metadata.name`` and ``metadata.labels`` from it, and the
filter reply re-emits the passing slices byte for byte. The scheduler stores the
Node objects we return, so returning them unchanged is also what correctness needs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from joulie import jsonutil
from joulie.api.labels import DemandClass
from joulie.core.classify import classify_pod
from joulie.core.model import pod_requests


class BadRequest(ValueError):
    """The body is not an ``ExtenderArgs`` we can answer; the message says why (HTTP 400)."""


class _NodeList(msgspec.Struct):
    items: list[msgspec.Raw] | None = None


class _Args(msgspec.Struct):
    Pod: dict[str, Any] | None = None
    Nodes: _NodeList | None = None
    NodeNames: msgspec.Raw = msgspec.Raw(b"null")


class _Meta(msgspec.Struct):
    name: Any = None
    labels: dict[str, str] | None = None


class _Node(msgspec.Struct):
    metadata: _Meta | None = None


_ARGS = msgspec.json.Decoder(_Args)
_NODE = msgspec.json.Decoder(_Node)
_NAMES = msgspec.json.Decoder(list[str] | None)


class _NameLists:
    """The last few ``NodeNames`` arrays, by their exact bytes.

    The scheduler sends the same candidate list for pod after pod while the cluster
    is stable. Reusing the decoded tuple saves the decode, and, more importantly,
    hands out the same string objects every time, whose hashes are cached, so the
    per-name table lookups of filter and prioritize run at full speed.
    """

    def __init__(self, size: int = 4, max_list_bytes: int = 2 * 1024 * 1024) -> None:
        self._size = size
        self._max_list_bytes = max_list_bytes
        """Longer lists are decoded but not kept: at most ``size * max_list_bytes`` of keys are held
        (a 5000-node list is about 100 KB; a forged 10 MB one must not stay in memory)."""
        self._lists: OrderedDict[bytes, tuple[str, ...] | None] = OrderedDict()
        self._lock = threading.Lock()

    def decode(self, raw: bytes) -> tuple[str, ...] | None:
        with self._lock:
            hit = self._lists.get(raw, _MISSING)
            if hit is not _MISSING:
                self._lists.move_to_end(raw)
                return hit  # type: ignore[return-value]
        names = _NAMES.decode(raw)
        value = tuple(names) if names is not None else None
        if len(raw) > self._max_list_bytes:
            return value
        with self._lock:
            self._lists[raw] = value
            while len(self._lists) > self._size:
                self._lists.popitem(last=False)
        return value


_MISSING = object()
_NAME_LISTS = _NameLists()


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What the decisions need from the pod being scheduled."""

    uid: str
    key: str
    demand: DemandClass
    cpu_millis: int
    gpus: int = 0


@dataclass(slots=True)
class ExtenderArgs:
    """One parsed request. ``full`` is True when the scheduler sent Node objects."""

    pod: PodFacts
    names: Sequence[str]
    """Candidate node names, in request order (a shared tuple in names mode: do not mutate)."""
    full: bool
    raw_nodes: list[msgspec.Raw]
    """Full mode: the request's node items, as bytes slices aligned with ``names``."""
    labels: list[Mapping[str, str] | None]
    """Full mode: each node's labels from the request, aligned with ``names``."""


def _describe(exc: Exception) -> str:
    return str(exc).replace("`", "")


def pod_facts(pod: Mapping[str, Any]) -> PodFacts:
    meta = pod.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name") if isinstance(meta.get("name"), str) else ""
    namespace = jsonutil.text(meta.get("namespace"), "default")
    key = f"{namespace}/{name}" if name else f"{namespace}/<unnamed>"
    uid = jsonutil.text(meta.get("uid"), key)
    spec = pod.get("spec")
    try:
        cpu, gpus = pod_requests(spec) if isinstance(spec, dict) else (0, 0)
    except ArithmeticError:  # absurd quantities (1e999999999): the pod's request is unknown, not an error
        cpu, gpus = 0, 0
    return PodFacts(uid=uid, key=key, demand=classify_pod(pod), cpu_millis=cpu, gpus=gpus)


def parse_args(body: bytes) -> ExtenderArgs:
    """Parse an ``ExtenderArgs`` body; raises :class:`BadRequest` with a clear message."""
    try:
        return _parse_args(body)
    except RecursionError:
        # A 2 KB body of 1000 nested arrays exhausts the decoder's stack: a client error, not ours.
        raise BadRequest("JSON nested too deeply to be ExtenderArgs") from None


MAX_POD_DEPTH = 64
"""Deepest nesting a Pod may have (a real one stays under 15); deeper is a forged request."""


def _deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _parse_args(body: bytes) -> ExtenderArgs:
    if not body:
        raise BadRequest("empty body: expected ExtenderArgs JSON {Pod, Nodes | NodeNames}")
    try:
        args = _ARGS.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"not ExtenderArgs: {_describe(exc)}") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"malformed JSON: {_describe(exc)}") from None
    if args.Pod is None:
        raise BadRequest("missing Pod: ExtenderArgs must carry the pod being scheduled")
    if _deeper_than(args.Pod, MAX_POD_DEPTH):
        raise BadRequest(f"JSON nested too deeply to be ExtenderArgs (Pod deeper than {MAX_POD_DEPTH} levels)")
    try:
        names_mode = _NAME_LISTS.decode(bytes(args.NodeNames))
    except msgspec.ValidationError as exc:
        raise BadRequest(f"not ExtenderArgs: {_describe(exc).replace('at $', 'at $.NodeNames')}") from None
    pod = pod_facts(args.Pod)
    if names_mode is not None:
        return ExtenderArgs(pod, names_mode, False, [], [])
    if args.Nodes is None:
        raise BadRequest("neither NodeNames nor Nodes: one of them lists the candidate nodes")
    raw = args.Nodes.items or []
    names: list[str] = []
    labels: list[Mapping[str, str] | None] = []
    for i, item in enumerate(raw):
        try:
            node = _NODE.decode(item)
        except msgspec.ValidationError as exc:
            raise BadRequest(f"Nodes.items[{i}] is not a Node: {_describe(exc)}") from None
        meta = node.metadata
        name = meta.name if meta is not None else None
        if not isinstance(name, str) or not name:
            raise BadRequest(f"Nodes.items[{i}] has no metadata.name")
        names.append(name)
        labels.append(meta.labels if meta is not None else None)
    return ExtenderArgs(pod, names, True, raw, labels)


# ------------------------------------------------------------------ replies


def filter_reply(args: ExtenderArgs, passed: Sequence[int], unresolvable: Mapping[str, str]) -> bytes:
    """``ExtenderFilterResult`` for the nodes at indexes ``passed`` of the request.

    Names mode answers ``NodeNames`` (never null: null would filter out every node);
    full mode answers ``Nodes.items`` with the original objects (the scheduler ignores
    ``NodeNames`` there). Rejections go to ``FailedAndUnresolvableNodes``: preemption
    cannot change a node's power profile, so the scheduler should not try it.
    """
    failed = orjson.dumps(unresolvable)
    if args.full:
        items = b",".join(args.raw_nodes[i] for i in passed)
        return (
            b'{"Nodes":{"metadata":{},"items":[' + items + b']},"NodeNames":null,"FailedNodes":{},'
            b'"FailedAndUnresolvableNodes":' + failed + b',"Error":""}'
        )
    names = args.names
    return (
        b'{"Nodes":null,"NodeNames":'
        + orjson.dumps([names[i] for i in passed])
        + b',"FailedNodes":{},"FailedAndUnresolvableNodes":'
        + failed
        + b',"Error":""}'
    )


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


__all__ = ["BadRequest", "ExtenderArgs", "PodFacts", "filter_reply", "parse_args", "pod_facts"]
