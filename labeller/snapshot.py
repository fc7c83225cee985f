"""Read a cluster snapshot: what ``kubectl get nodes,pods -A -o yaml`` (or ``-o json``) prints.

A snapshot is a ``kind: List`` (or ``NodeList``/``PodList``, or several YAML
documents) of Node and Pod objects; NodePowerProfiles in it are read as the
observed profiles. It is how ``joulie plan`` and ``joulie serve`` run with no cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from joulie.core.store import ClusterStore
from labeller.profiles import ProfileCache


class SnapshotError(ValueError):
    """The file is not a readable snapshot; the message says where and why."""


@dataclass
class Snapshot:
    store: ClusterStore
    profiles: ProfileCache
    skipped: list[str] = field(default_factory=list)


def _documents(text: str, source: str) -> list[Any]:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return [orjson.loads(text)]
        except orjson.JSONDecodeError:
            pass  # YAML flow style also starts with { or [
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise SnapshotError(f"{source}: not valid YAML or JSON: {exc}") from None


def _items(doc: Any, source: str) -> Iterator[dict[str, Any]]:
    if isinstance(doc, list):
        for d in doc:
            yield from _items(d, source)
        return
    if not isinstance(doc, dict):
        raise SnapshotError(f"{source}: expected Kubernetes objects, found {type(doc).__name__}")
    if isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield from _items(item, source)
        return
    yield doc


def parse_snapshot(text: str, source: str = "<snapshot>") -> Snapshot:
    store = ClusterStore()
    profiles = ProfileCache()
    nodes, pods, npps, skipped = [], [], [], []
    for doc in _documents(text, source):
        for obj in _items(doc, source):
            kind = obj.get("kind")
            if kind == "Node":
                nodes.append(obj)
            elif kind == "Pod":
                pods.append(obj)
            elif kind == "NodePowerProfile":
                npps.append(obj)
            else:
                name = (obj.get("metadata") or {}).get("name", "?") if isinstance(obj.get("metadata"), dict) else "?"
                skipped.append(f"{kind or 'object without kind'}/{name}")
    if not nodes:
        raise SnapshotError(f"{source}: no Node objects found (expected `kubectl get nodes,pods -A -o yaml` output)")
    store.replace_nodes(nodes)
    store.replace_pods(pods)
    profiles.replace(npps)
    return Snapshot(store, profiles, skipped)


def load_snapshot(path: str | Path) -> Snapshot:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {p}: {exc.strerror or exc}") from None
    return parse_snapshot(text, str(p))
