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
from joulie.api.v1alpha1 import PERFORMANCE_POD_PROFILE, pod_profile_of

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
    """Demand class of a Pod object (API JSON); malformed pods are general.

    A pod asking for the performance pod power profile (``power.joulie.io/performance``) is
    performance demand whatever its node selector says: only a performance node can honour it.
    """
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return GENERAL
    return filter_demand(classify_spec(spec), requested_pod_profiles(spec))


def requested_pod_profiles(spec: Mapping[str, Any]) -> frozenset[str]:
    """The pod power profiles (``power.joulie.io/<profile>``) any container of a pod spec requests."""
    out: set[str] = set()
    for key in ("initContainers", "containers"):
        items = spec.get(key)
        for c in items if isinstance(items, list) else ():
            resources = c.get("resources") if isinstance(c, dict) else None
            for part in ("requests", "limits"):
                values = resources.get(part) if isinstance(resources, dict) else None
                for name in values if isinstance(values, dict) else ():
                    profile = pod_profile_of(str(name))
                    if profile is not None:
                        out.add(profile)
    return frozenset(out)


def filter_demand(demand: DemandClass, pod_profiles: frozenset[str]) -> DemandClass:
    """The class the filter and the score use: performance when the pod asks for the performance pod profile.

    A pod that also selects eco nodes can then run nowhere; as in classification, performance
    wins (the contradiction shows as no node passing rather than a pod capped against its ask).
    """
    return PERFORMANCE if PERFORMANCE_POD_PROFILE in pod_profiles else demand
