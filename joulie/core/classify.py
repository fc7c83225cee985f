"""Demand classification: what power profile a pod needs (CONTRACT §1).

Demand is read from the pod's scheduling constraints on ``joulie.io/power-profile``,
never from a label of its own, because those constraints are what the scheduler
enforces: a pod that *requires* performance nodes can only run on them.

- **performance**: ``nodeSelector`` equals ``performance``, or a *required*
  node-affinity term has an expression on the key with ``In`` whose values do not
  contain ``eco``, or ``NotIn`` whose values contain ``eco``.
- **eco**: ``nodeSelector`` equals ``eco``, or a required term has ``In [eco]`` only.
- **general**: anything else. Preferred affinity, ``Exists``, ``DoesNotExist``,
  ``Gt`` and ``Lt`` say nothing about power. Unknown operators are general too,
  with a warning, so one odd pod cannot stop the labeller.

Node-selector terms are ORed, so the pod's class is what *every* term allows: it is
performance only when every term asks for performance (``(In [performance]) OR
(In [eco])`` may run on eco nodes, so it is general), eco only when every term asks for
eco. Expressions inside a term are ANDed, and ``nodeSelector`` is ANDed with all terms.
When a pod asks for both (it can never be scheduled) performance wins, so that the
labeller errs towards capacity rather than a pod stuck forever. (Upstream counts a pod as
performance when any one term asks for it; that over-counts such pods.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from joulie.api.labels import ECO, GENERAL, PERFORMANCE, POWER_PROFILE_LABEL, DemandClass

log = logging.getLogger(__name__)

_IGNORED_OPERATORS = frozenset({"Exists", "DoesNotExist", "Gt", "Lt"})


def classify_expression(operator: Any, values: Any) -> DemandClass:
    """Class implied by one required match expression on the power-profile key."""
    vals = [str(v) for v in values] if isinstance(values, list) else []
    if operator == "In":
        if not vals:
            return GENERAL
        if ECO not in vals:
            return PERFORMANCE
        if all(v == ECO for v in vals):
            return ECO
        return GENERAL
    if operator == "NotIn":
        return PERFORMANCE if ECO in vals else GENERAL
    if operator not in _IGNORED_OPERATORS:
        log.warning(
            "unknown node-affinity operator %r on %s: counting the pod as general",
            operator,
            POWER_PROFILE_LABEL,
        )
    return GENERAL


def _required_terms(spec: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    affinity = spec.get("affinity")
    if not isinstance(affinity, dict):
        return ()
    node_affinity = affinity.get("nodeAffinity")
    if not isinstance(node_affinity, dict):
        return ()
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        return ()
    terms = required.get("nodeSelectorTerms")
    return [t for t in terms if isinstance(t, dict)] if isinstance(terms, list) else ()


def _term_class(term: Mapping[str, Any]) -> DemandClass:
    """Class of one node-selector term (its expressions are ANDed: performance wins inside a term)."""
    expressions = term.get("matchExpressions")
    found_eco = False
    for expr in expressions if isinstance(expressions, list) else ():
        if not isinstance(expr, dict) or expr.get("key") != POWER_PROFILE_LABEL:
            continue
        cls = classify_expression(expr.get("operator"), expr.get("values"))
        if cls == PERFORMANCE:
            return PERFORMANCE
        found_eco = found_eco or cls == ECO
    return ECO if found_eco else GENERAL


def _terms_class(spec: Mapping[str, Any]) -> DemandClass | None:
    """What the required terms together allow (they are ORed): performance only when every term
    asks for performance, eco only when every term asks for eco; ``None`` without terms."""
    classes = {_term_class(t) for t in _required_terms(spec)}
    if not classes:
        return None
    return classes.pop() if len(classes) == 1 else GENERAL


def classify_spec(spec: Mapping[str, Any]) -> DemandClass:
    """Demand class of a pod spec (the ``spec`` dict of a Pod, API JSON)."""
    selector = spec.get("nodeSelector")
    wanted = selector.get(POWER_PROFILE_LABEL) if isinstance(selector, dict) else None
    if wanted == PERFORMANCE:
        return PERFORMANCE
    terms = _terms_class(spec)
    if terms == PERFORMANCE:
        return PERFORMANCE  # with nodeSelector eco it can never run: err towards capacity
    if wanted == ECO:
        return ECO  # the selector is ANDed with every term: eco nodes only
    return terms or GENERAL


def classify_pod(pod: Mapping[str, Any]) -> DemandClass:
    """Demand class of a Pod object (API JSON); malformed pods are general."""
    spec = pod.get("spec")
    return classify_spec(spec) if isinstance(spec, dict) else GENERAL
