"""Budget algorithms: ``customAlgorithm.name`` selects one, built in or registered by a package.

A package registers more through the entry-point group ``joulie.budget_algorithms`` (name ->
a :class:`BudgetAlgorithm` subclass), like the labeller's policy registry: one module with
typed parameters. An unknown name or parameters its model refuses is an
:class:`AlgorithmError`; the controller then keeps the last safe caps and says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from joulie.validation import validation_details
from labeller.budgets.base import BudgetAlgorithm, BudgetParams
from labeller.budgets.default import PrioritySplit
from labeller.budgets.energy_aware import EnergyAwareScheduling
from labeller.budgets.proportional import ProportionalSplit

ENTRY_POINT_GROUP = "joulie.budget_algorithms"
BUILT_IN: dict[str, type[BudgetAlgorithm[Any]]] = {
    a.name: a for a in (PrioritySplit, ProportionalSplit, EnergyAwareScheduling)
}
DEFAULT_ALGORITHM = PrioritySplit.name


class AlgorithmError(ValueError):
    """An unknown algorithm, or parameters it refuses; the message says which and why."""


@cache
def algorithms() -> Mapping[str, type[BudgetAlgorithm[Any]]]:
    """Built-in algorithms plus those registered under :data:`ENTRY_POINT_GROUP` (built-ins win)."""
    found: dict[str, type[BudgetAlgorithm[Any]]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception:  # noqa: BLE001 - a broken plugin must not break budgets: it is simply not there
            continue
        if isinstance(cls, type) and issubclass(cls, BudgetAlgorithm):
            found[ep.name] = cls
    return {**found, **BUILT_IN}


def build_algorithm(name: str | None, parameters: Mapping[str, Any] | None) -> BudgetAlgorithm[Any]:
    known = algorithms()
    chosen = name or DEFAULT_ALGORITHM
    cls = known.get(chosen)
    if cls is None:
        raise AlgorithmError(f"unknown budget algorithm {chosen!r}; known: {', '.join(sorted(known))}")
    try:
        return cls(cls.params_model.model_validate(dict(parameters or {})))
    except ValidationError as exc:
        raise AlgorithmError(f"invalid parameters for {chosen}: {validation_details(exc, chosen)}") from None


__all__ = ["DEFAULT_ALGORITHM", "AlgorithmError", "BudgetAlgorithm", "BudgetParams", "algorithms", "build_algorithm"]
