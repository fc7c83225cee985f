"""How kube-scheduler reads an extender's reply, re-stated in Python for the tests.

``HTTPExtender.send`` treats any status but 200 as an error, then decodes the body
with Go's ``encoding/json`` into ``ExtenderFilterResult`` or ``HostPriorityList``
(types without JSON tags). The rules that matter here:

- keys match Go field names exactly, else case-insensitively; unknown keys are ignored;
- ``null`` leaves a pointer, slice or map nil and a string unchanged;
- a value of the wrong JSON type is an error (``cannot unmarshal ...``), and so is a
  number that is not an integer literal for an ``int64`` (``7.0`` or ``7.5`` for Score);
- ``Filter``: a non-empty ``Error`` is an error; with ``nodeCacheCapable`` and non-nil
  ``NodeNames`` every name must be an input node, else an error; otherwise the
  feasible nodes are ``Nodes.items`` when non-nil, else none at all.

:func:`scheduler_filter` and :func:`scheduler_prioritize` return what the scheduler
ends up with; ``tests/extender/test_godecode.py`` checks them against the reactions
captured from a real scheduler.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

INT64 = (-(2**63), 2**63 - 1)


class GoDecodeError(Exception):
    pass


class _Obj(list):
    """A JSON object, as its (key, value) pairs in order (Go sees duplicates; the last wins)."""


class _Float(str):
    """A JSON number literal with a fraction or exponent (Go will not put it in an int64)."""


def _no_constants(name: str) -> Any:
    raise GoDecodeError(f"invalid character in {name}")


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body, object_pairs_hook=_Obj, parse_float=_Float, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GoDecodeError(f"invalid JSON: {exc}") from None


def _fields(pairs: Any, names: list[str], what: str) -> dict[str, Any]:
    """Go's field matching: exact name, else case-insensitive; later keys win."""
    if not isinstance(pairs, _Obj):
        raise GoDecodeError(f"cannot unmarshal {_kind(pairs)} into Go value of type {what}")
    out: dict[str, Any] = {}
    for key, value in pairs:
        match = key if key in names else next((n for n in names if n.lower() == key.lower()), None)
        if match is not None:
            out[match] = value
    return out


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, _Float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "object" if isinstance(v, _Obj) else "array"


def _string(v: Any, what: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, str) and not isinstance(v, _Float):
        return v
    raise GoDecodeError(f"cannot unmarshal {_kind(v)} into Go struct field {what} of type string")


def _string_map(v: Any, what: str) -> dict[str, str] | None:
    if v is None:
        return None
    if not _is_object(v):
        raise GoDecodeError(f"cannot unmarshal {_kind(v)} into Go struct field {what} of type map[string]string")
    out = {}
    for k, val in v:
        s = _string(val, what)
        if s is not None:
            out[k] = s
    return out


def _is_object(v: Any) -> bool:
    return isinstance(v, _Obj)


def _is_array(v: Any) -> bool:
    return isinstance(v, list) and not isinstance(v, _Obj)


@dataclass
class FilterResult:
    node_names: list[str] | None = None
    nodes: list[Any] | None = None
    failed: dict[str, str] = field(default_factory=dict)
    unresolvable: dict[str, str] = field(default_factory=dict)
    error: str = ""


def decode_filter_result(body: bytes) -> FilterResult:
    data = _loads(body)
    if data is None:
        return FilterResult()
    if not _is_object(data):
        raise GoDecodeError("cannot unmarshal into Go value of type v1.ExtenderFilterResult")
    f = _fields(
        data, ["Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"], "v1.ExtenderFilterResult"
    )
    res = FilterResult()
    if f.get("Nodes") is not None:
        nl = _fields(f["Nodes"], ["TypeMeta", "ListMeta", "Items", "metadata", "items"], "v1.NodeList")
        items = nl.get("items", nl.get("Items"))
        if items is not None and not _is_array(items):
            raise GoDecodeError("cannot unmarshal into Go struct field NodeList.items of type []v1.Node")
        res.nodes = []
        for item in items or []:
            if not _is_object(item):
                raise GoDecodeError("cannot unmarshal into Go struct field NodeList.items of type v1.Node")
            meta = _fields(item, ["metadata"], "v1.Node").get("metadata")
            name = (
                _string(_fields(meta, ["name"], "v1.ObjectMeta").get("name"), "ObjectMeta.name")
                if meta is not None
                else None
            )
            res.nodes.append(name or "")
    if f.get("NodeNames") is not None:
        if not _is_array(f["NodeNames"]):
            raise GoDecodeError("cannot unmarshal into Go struct field ExtenderFilterResult.NodeNames of type []string")
        res.node_names = [_string(n, "ExtenderFilterResult.NodeNames") or "" for n in f["NodeNames"]]
    res.failed = _string_map(f.get("FailedNodes"), "ExtenderFilterResult.FailedNodes") or {}
    res.unresolvable = (
        _string_map(f.get("FailedAndUnresolvableNodes"), "ExtenderFilterResult.FailedAndUnresolvableNodes") or {}
    )
    res.error = _string(f.get("Error"), "ExtenderFilterResult.Error") or ""
    return res


def decode_priorities(body: bytes) -> list[tuple[str, int]]:
    data = _loads(body)
    if data is None:
        return []
    if not _is_array(data):
        raise GoDecodeError("cannot unmarshal object into Go value of type v1.HostPriorityList")
    out = []
    for item in data:
        if item is None:
            out.append(("", 0))
            continue
        f = _fields(item, ["Host", "Score"], "v1.HostPriority")
        host = _string(f.get("Host"), "HostPriority.Host") or ""
        score = f.get("Score")
        if score is None:
            score = 0
        elif isinstance(score, bool) or not isinstance(score, int) or not INT64[0] <= score <= INT64[1]:
            raise GoDecodeError(f"cannot unmarshal {score!r} into Go struct field HostPriority.Score of type int64")
        out.append((host, score))
    return out


@dataclass
class SchedulerFilter:
    """What the scheduler ends up with after one filter call."""

    error: str | None
    feasible: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unresolvable: dict[str, str] = field(default_factory=dict)


def scheduler_filter(node_cache_capable: bool, input_names: list[str], status: int, body: bytes) -> SchedulerFilter:
    if status != 200:
        return SchedulerFilter(error=f"code {status}")
    try:
        res = decode_filter_result(body)
    except GoDecodeError as exc:
        return SchedulerFilter(error=str(exc))
    if res.error:
        return SchedulerFilter(error=res.error)
    if node_cache_capable and res.node_names is not None:
        unknown = [n for n in res.node_names if n not in input_names]
        if unknown:
            return SchedulerFilter(error=f"extender claims a filtered node {unknown[0]!r} not in the input")
        feasible = list(res.node_names)
    elif res.nodes is not None:
        feasible = list(res.nodes)
    else:
        feasible = []
    return SchedulerFilter(None, feasible, res.failed, res.unresolvable)


def scheduler_prioritize(status: int, body: bytes) -> dict[str, int] | None:
    """Extender scores per host, or ``None`` when the scheduler drops them (error: ignored)."""
    if status != 200:
        return None
    try:
        pairs = decode_priorities(body)
    except GoDecodeError:
        return None
    out: dict[str, int] = {}
    for host, score in pairs:
        out[host] = out.get(host, 0) + score
    return out
