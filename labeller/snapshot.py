"""Read a cluster snapshot: what ``kubectl get nodes,pods -A -o yaml`` (or ``-o json``) prints.

A snapshot is a ``kind: List`` (or ``NodeList``/``PodList``, or several YAML
documents) of Node and Pod objects; NodePowerProfiles in it are read as the
observed profiles (their ``status.power`` as the agents' readings), PowerCappingPolicies
as the budgets in force. It is how ``joulie plan`` and ``joulie serve`` run with no cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from joulie.api.v1alpha1 import PCP_KIND, NodePowerProfile, PowerCappingPolicy
from joulie.core.store import ClusterStore
from joulie.validation import validation_details
from labeller.budgets.source import PolicyCache
from labeller.profiles import ProfileCache

log = logging.getLogger(__name__)


class SnapshotError(ValueError):
    """The file is not a readable snapshot; the message says where and why."""


@dataclass
class Snapshot:
    store: ClusterStore
    profiles: ProfileCache
    skipped: list[str] = field(default_factory=list)
    policies: PolicyCache = field(default_factory=PolicyCache)


MAX_DEPTH = 64
"""Deepest nesting of lists and objects a snapshot may have (kubectl's output stays under 20)."""


MAX_VALUES = 5_000_000
"""Most values (scalars, lists, objects) a snapshot may expand to: a 5000-node, 150k-pod
``kubectl get -o yaml`` has about four million."""


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Values ``node`` stands for once every alias is expanded (memoised: shared nodes count
    once per use without being walked again, so nested aliases cost nothing to measure)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a cycle (a node containing its own alias) counts once
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(n, memo) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[key] = min(size, MAX_VALUES + 1)
    return memo[key]


def _yaml_documents(text: str) -> list[Any]:
    """YAML documents, refusing those whose aliases expand them past :data:`MAX_VALUES` (the
    "billion laughs": a few lines of nested aliases stand for billions of values)."""
    loader = yaml.SafeLoader(text)
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            size = _expanded_size(node, {})
            if size > MAX_VALUES:
                raise SnapshotError(
                    f"expands to more than {MAX_VALUES} values through YAML aliases; refused (kubectl never "
                    "writes aliases this way)"
                )
            docs.append(loader.construct_document(node))
        return docs
    finally:
        loader.dispose()


def _documents(text: str, source: str) -> list[Any]:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return [orjson.loads(text)]
        except orjson.JSONDecodeError:
            pass  # YAML flow style also starts with { or [
    try:
        return [d for d in _yaml_documents(text) if d is not None]
    except SnapshotError as exc:
        raise SnapshotError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SnapshotError(f"{source}: not valid YAML or JSON: {exc}") from None


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of ``value``, walking iteratively; stops counting past ``limit``. Objects shared
    through YAML aliases are walked once (their expanded size was bounded when they were read)."""
    deepest = 0
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        if isinstance(item, dict | list):
            if id(item) in seen:
                continue
            seen.add(id(item))
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _items(docs: list[Any], source: str) -> Iterator[dict[str, Any]]:
    """The objects of ``docs``, flattening lists and ``List`` kinds (iteratively: no recursion to exhaust)."""
    stack = list(reversed(docs))
    while stack:
        doc = stack.pop()
        if isinstance(doc, list):
            stack.extend(reversed(doc))
            continue
        if not isinstance(doc, dict):
            raise SnapshotError(f"{source}: expected Kubernetes objects, found {type(doc).__name__}")
        if isinstance(doc.get("items"), list):
            stack.extend(reversed(doc["items"]))
            continue
        yield doc


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) and name else "?"


def parse_snapshot(text: str, source: str = "<snapshot>") -> Snapshot:
    store = ClusterStore()
    profiles = ProfileCache()
    nodes, pods, npps, pcps, skipped = [], [], [], [], []
    try:
        docs = _documents(text, source)
    except RecursionError:
        raise SnapshotError(f"{source}: nested too deeply to be Kubernetes objects") from None
    if any(_depth(d, MAX_DEPTH) > MAX_DEPTH for d in docs):
        raise SnapshotError(f"{source}: nested more than {MAX_DEPTH} levels deep; not Kubernetes objects")
    for obj in _items(docs, source):
        kind = obj.get("kind")
        if kind == "Node":
            nodes.append(obj)
        elif kind == "Pod":
            pods.append(obj)
        elif kind == "NodePowerProfile":
            try:
                NodePowerProfile.model_validate(obj)
            except ValidationError as exc:
                log.warning(
                    "%s: NodePowerProfile %s is invalid (%s); the labeller would replace its spec",
                    source,
                    _name(obj),
                    validation_details(exc, "object"),
                )
            npps.append(obj)
        elif kind == PCP_KIND:
            try:
                PowerCappingPolicy.model_validate(obj)
            except ValidationError as exc:
                log.warning(
                    "%s: PowerCappingPolicy %s is invalid (%s); it holds its nodes' caps until fixed",
                    source,
                    _name(obj),
                    validation_details(exc, "object"),
                )
            pcps.append(obj)
        else:
            skipped.append(f"{kind or 'object without kind'}/{_name(obj)}")
    if not nodes:
        raise SnapshotError(f"{source}: no Node objects found (expected `kubectl get nodes,pods -A -o yaml` output)")
    store.replace_nodes(nodes)
    store.replace_pods(pods)
    profiles.replace(npps)
    policies = PolicyCache()
    policies.replace(pcps)
    return Snapshot(store, profiles, skipped, policies)


def load_snapshot(path: str | Path) -> Snapshot:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"snapshot {p} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {p}: {exc.strerror or exc}") from None
    return parse_snapshot(text, str(p))
