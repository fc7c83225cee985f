from __future__ import annotations

import pytest

from labeller.policies import DemandSummary, PolicyConfigError, PolicyInput, build_policy, round_half_away


def names(n: int) -> list[str]:
    return [f"n{i:02d}" for i in range(n)]


def decide(policy: str, n: int, perf: int = 0, now: float = 0.0, **params):
    return build_policy(policy, params).decide(PolicyInput(names(n), DemandSummary(performance=perf), now))


@pytest.mark.parametrize("x, expected", [(0.5, 1), (1.5, 2), (2.5, 3), (-0.5, -1), (2.4999, 2), (0.0, 0)])
def test_round_half_away_from_zero(x, expected):
    assert round_half_away(x) == expected


@pytest.mark.parametrize(
    "n, frac, expected",
    [(5, 0.5, 3), (4, 0.5, 2), (1, 0.5, 1), (0, 0.5, 0), (7, 0.3, 2), (10, 0.0, 0), (10, 1.0, 10), (3, 0.5, 2)],
)
def test_static_partition(n, frac, expected):
    assert decide("static_partition", n, hp_frac=frac).performance_nodes == expected


def test_static_partition_default_is_half():
    assert decide("static_partition", 5).performance_nodes == 3


@pytest.mark.parametrize(
    "n, perf, params, expected",
    [
        (10, 0, {}, 6),  # round(10*0.6)=6
        (5, 0, {}, 3),  # round(3.0)=3
        (10, 95, {}, 10),  # ceil(95/10)=10
        (10, 71, {}, 8),  # ceil(7.1)=8 > 6
        (20, 5, {"base_frac": 0.0}, 1),  # ceil(0.5)=1
        (20, 0, {"base_frac": 0.0}, 1),  # hp_min=1
        (20, 0, {"base_frac": 0.0, "hp_min": 0}, 0),
        (20, 500, {"hp_max": 4}, 4),
        (3, 500, {}, 3),  # clamped to N
        (0, 10, {}, 0),  # no nodes
        (4, 0, {"base_frac": 0.625}, 3),  # 2.5 rounds away from zero
    ],
)
def test_queue_aware(n, perf, params, expected):
    assert decide("queue_aware_v1", n, perf, **params).performance_nodes == expected


def test_rule_swap_phases():
    r0 = decide("rule_swap_v1", 4, now=120.0)  # phase (120//60)%2 = 0
    assert r0.fixed == {"n00": "eco", "n01": "performance", "n02": "performance", "n03": "performance"}
    r1 = decide("rule_swap_v1", 4, now=60.0)
    assert r1.fixed["n01"] == "eco" and r1.fixed["n00"] == "performance"
    r_short = decide("rule_swap_v1", 1, now=60.0)  # phase 1 but only one node
    assert r_short.fixed == {"n00": "performance"}


def test_unknown_policy_and_bad_params_are_clear():
    with pytest.raises(PolicyConfigError, match="unknown policy 'greedy'"):
        build_policy("greedy")
    with pytest.raises(PolicyConfigError, match="hp_frac"):
        build_policy("static_partition", {"hp_frac": 1.5})
    with pytest.raises(PolicyConfigError, match="hp_fraction: Extra inputs are not permitted"):
        build_policy("static_partition", {"hp_fraction": 0.5})
    with pytest.raises(PolicyConfigError, match="hp_min"):
        build_policy("queue_aware_v1", {"hp_min": 5, "hp_max": 2})
