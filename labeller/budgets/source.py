"""Where the budget controller's inputs come from at run time: observed policies, thermal and
performance readings. Adapters fill these; the controller (:mod:`labeller.budgets.controller`)
only reads them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from labeller.budgets.controller import PerformanceFigure, PolicyView
from labeller.cache import NamedCache


class BudgetSource(Protocol):
    def policies(self) -> list[PolicyView]: ...

    def inlet_temperature(self, node: str, now: float) -> float | None: ...

    def performance(self, now: float) -> Mapping[str, PerformanceFigure]: ...


class PolicyCache(NamedCache[PolicyView]):
    """Observed PowerCappingPolicies by name (fed by a watch or a snapshot); thread-safe."""

    def __init__(self) -> None:
        super().__init__(PolicyView.from_api)


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
