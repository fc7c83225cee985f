"""Where the budget controller's inputs come from at run time: observed policies, thermal and
performance readings. Adapters fill these; the controller (:mod:`labeller.budgets.controller`)
only reads them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from labeller.budgets.controller import PerformanceFigure, PolicyView


class BudgetSource(Protocol):
    def policies(self) -> list[PolicyView]: ...

    def inlet_temperature(self, node: str, now: float) -> float | None: ...

    def performance(self, now: float) -> Mapping[str, PerformanceFigure]: ...


class PolicyCache:
    """Observed PowerCappingPolicies by name (fed by a watch or a snapshot); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, PolicyView] = {}
        self.version = 0

    def upsert(self, obj: Mapping[str, Any]) -> None:
        view = PolicyView.from_api(obj)
        with self._lock:
            self._items[view.name] = view
            self.version += 1

    def delete(self, name: str) -> None:
        with self._lock:
            if self._items.pop(name, None) is not None:
                self.version += 1

    def replace(self, objs: Iterable[Mapping[str, Any]]) -> None:
        fresh = {v.name: v for v in map(PolicyView.from_api, objs)}
        with self._lock:
            self._items = fresh
            self.version += 1

    def get(self, name: str) -> PolicyView | None:
        return self._items.get(name)

    def items(self) -> list[PolicyView]:
        with self._lock:
            return list(self._items.values())


class CachedBudgetSource:
    """A :class:`BudgetSource` over a :class:`PolicyCache` and optional readers."""

    def __init__(
        self,
        policies: PolicyCache,
        inlet: Callable[[str, float], float | None] | None = None,
        performance: Callable[[float], Mapping[str, PerformanceFigure]] | None = None,
    ) -> None:
        self.cache = policies
        self._inlet = inlet
        self._performance = performance

    def policies(self) -> list[PolicyView]:
        return self.cache.items()

    def inlet_temperature(self, node: str, now: float) -> float | None:
        return self._inlet(node, now) if self._inlet is not None else None

    def performance(self, now: float) -> Mapping[str, PerformanceFigure]:
        return self._performance(now) if self._performance is not None else {}
