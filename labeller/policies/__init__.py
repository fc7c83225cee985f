"""Policy registry: a new policy is one module with a ``Policy`` subclass, listed here.

:mod:`labeller.policies.wait_target` is not a policy: it is the layer the planner puts over
whichever policy runs, adding the nodes performance pods need room on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from joulie.validation import validation_details
from labeller.policies.base import (
    DemandSummary,
    Policy,
    PolicyInput,
    PolicyParams,
    PolicyResult,
    clamp,
    round_half_away,
)
from labeller.policies.queue_aware_v1 import QueueAwareV1
from labeller.policies.rule_swap_v1 import RuleSwapV1
from labeller.policies.static_partition import StaticPartition

POLICIES: dict[str, type[Policy[Any]]] = {p.name: p for p in (StaticPartition, QueueAwareV1, RuleSwapV1)}
DEFAULT_POLICY = QueueAwareV1.name


class PolicyConfigError(ValueError):
    """Unknown policy or invalid parameters; the message says which and why."""


def build_policy(name: str, params: Mapping[str, Any] | None = None) -> Policy[Any]:
    """Instantiate policy ``name`` with validated ``params`` (unknown keys are an error)."""
    try:
        cls = POLICIES[name]
    except KeyError:
        raise PolicyConfigError(f"unknown policy {name!r}; choose one of {', '.join(sorted(POLICIES))}") from None
    try:
        return cls(cls.params_model.model_validate(dict(params or {})))
    except ValidationError as exc:
        raise PolicyConfigError(f"invalid parameters for policy {name}: {validation_details(exc, name)}") from None


__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "DemandSummary",
    "Policy",
    "PolicyConfigError",
    "PolicyInput",
    "PolicyParams",
    "PolicyResult",
    "build_policy",
    "clamp",
    "round_half_away",
]
