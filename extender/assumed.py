"""Pods the extender just placed but the cluster does not show bound yet ("assumed" pods).

Between our prioritize reply and the pod appearing bound in the watch there are a
few hundred milliseconds; during a burst the scheduler asks again for the next
pod in that window. Without memory every pod of the burst would see the same
node fills and pick the same node. After each prioritize we remember
``pod -> best-scored node, CPU request`` and count that CPU into the node's fill.

An entry ends when the store sees the pod bound (its CPU is then in the store's
per-node sum, so keeping it would count it twice), when the pod is gone, or after
a short TTL: the scheduler may have picked another node (its own plugins add
their scores to ours), and a wrong guess must not linger.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from cachetools import TTLCache


class Assumption(NamedTuple):
    node: str
    cpu_millis: int


class AssumedPods:
    def __init__(
        self, ttl_seconds: float = 30.0, maxsize: int = 100_000, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._cache: TTLCache[str, Assumption] = TTLCache(maxsize=maxsize, ttl=ttl_seconds, timer=timer)
        self._lock = threading.Lock()

    def assume(self, pod_uid: str, node: str, cpu_millis: int) -> None:
        with self._lock:
            self._cache[pod_uid] = Assumption(node, cpu_millis)

    def get(self, pod_uid: str) -> Assumption | None:
        with self._lock:
            return self._cache.get(pod_uid)

    def cpu_by_node(self, settled: Callable[[str], bool], exclude: str | None = None) -> dict[str, int]:
        """Assumed CPU per node; drops entries whose pod ``settled`` says is bound or gone.

        ``exclude`` is the pod being scored: a retry must not count its own earlier guess.
        """
        out: dict[str, int] = {}
        with self._lock:
            self._cache.expire()
            if not self._cache:
                return out
            for uid in [u for u in self._cache if settled(u)]:
                del self._cache[uid]
            for uid, a in self._cache.items():
                if uid != exclude:
                    out[a.node] = out.get(a.node, 0) + a.cpu_millis
        return out

    def __len__(self) -> int:
        with self._lock:
            self._cache.expire()
            return len(self._cache)
