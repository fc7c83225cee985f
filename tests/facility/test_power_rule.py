"""The pure power model and the power-aware score rule (joulie.core.power)."""

from __future__ import annotations

import math

import pytest

from joulie.api.labels import ECO, GENERAL, PERFORMANCE
from joulie.core.power import (
    REFERENCE_CURVE_WATTS,
    ParametricModel,
    PowerCurve,
    curve_watts,
    marginal_watts,
    power_scores,
    validate_curve,
)
from joulie.core.supply import Supply, band
from simulator.hardware import CPU_NODE, GPU_NODE, node_operating

CURVE = ParametricModel().curve()
ALLOC = 80_000


def test_the_parametric_curve_is_the_twins_uncapped_draw():
    """One curve: what the extender predicts is what the simulator draws, CPU and GPU servers alike."""
    for busy_cores in (0, 4, 13.5, 40, 80):
        assert CURVE.at(busy_cores / 80) == pytest.approx(node_operating(CPU_NODE, busy_cores, 0, None, None).watts)
    gpu = ParametricModel().curve(gpus=8)
    for busy_gpus in (0, 3, 8):
        twin = node_operating(GPU_NODE, 16, busy_gpus, None, None).watts
        assert gpu.at(16 / 80) + busy_gpus * gpu.gpu_busy_extra_watts == pytest.approx(twin)


def test_curve_interpolates_and_clamps():
    assert curve_watts(REFERENCE_CURVE_WATTS, 0.0) == 115
    assert curve_watts(REFERENCE_CURVE_WATTS, 0.05) == pytest.approx(152.5)
    assert curve_watts(REFERENCE_CURVE_WATTS, 1.7) == 590
    assert curve_watts(REFERENCE_CURVE_WATTS, -1) == 115


@pytest.mark.parametrize(
    "curve, why",
    [
        ((1,) * 10, "11 points"),
        ((0,) + (1,) * 10, "positive"),
        ((5, 4) + (6,) * 9, "not decrease"),
        ((1,) * 10 + (math.inf,), "finite"),
    ],
)
def test_bad_curves_are_refused_with_the_reason(curve, why):
    with pytest.raises(ValueError, match=why):
        validate_curve(curve)


def test_marginal_watts_waking_an_idle_node_costs_more_than_topping_up_a_busy_one():
    idle = marginal_watts(CURVE, 0, ALLOC, 8000)
    busy = marginal_watts(CURVE, 24_000, ALLOC, 8000)
    assert idle == pytest.approx(75.0)  # idle -> 10 %: the concave first step of the curve
    assert busy == pytest.approx(40.0)
    assert idle > busy


def test_marginal_watts_unknown_and_overcommitted():
    assert marginal_watts(None, 0, ALLOC, 1000) is None
    assert marginal_watts(CURVE, 0, 0, 1000) is None  # allocatable unknown
    assert marginal_watts(CURVE, 79_500, ALLOC, 1000) == math.inf
    assert marginal_watts(CURVE, 79_000, ALLOC, 1000) == pytest.approx(6.25)


def test_gpus_add_their_busy_power():
    gpu = ParametricModel().curve(gpus=8)
    assert marginal_watts(gpu, 16_000, ALLOC, 8000, pod_gpus=1) == pytest.approx(40 + 305)


ECO_NODE = Supply(ECO, False, "plan")
PERF_NODE = Supply(PERFORMANCE, False, "plan")


def test_smallest_increase_gets_the_top_of_its_band_and_the_largest_the_bottom():
    bands = [band(GENERAL, ECO_NODE)] * 3
    assert power_scores(bands, [40.0, 75.0, 57.5]) == [10, 7, 9]


def test_no_data_is_neutral_never_the_best_and_overcommitted_is_the_bottom():
    bands = [band(GENERAL, ECO_NODE)] * 4
    scores = power_scores(bands, [None, 50.0, math.inf, 60.0])
    assert scores == [8, 10, 7, 7]
    assert scores[0] < max(scores)
    # every candidate without data: all neutral, none singled out as best
    assert power_scores(bands[:2], [None, None]) == [8, 8]


def test_supply_and_draining_rules_keep_priority_over_watts():
    """A general pod prefers an eco node that is not draining even when a performance node adds fewer watts."""
    draining = Supply(ECO, True, "plan")
    bands = [band(GENERAL, PERF_NODE), band(GENERAL, draining), band(GENERAL, ECO_NODE)]
    scores = power_scores(bands, [1.0, 1.0, 500.0])
    assert scores[2] > scores[0] and scores[2] > scores[1]
    assert all(0 <= s <= 10 and isinstance(s, int) for s in scores)


def test_equal_inputs_give_equal_scores():
    bands = [band(PERFORMANCE, PERF_NODE)] * 5
    inc = [3.0, 3.0, 9.0, None, 6.0]
    assert power_scores(bands, inc) == power_scores(list(bands), list(inc)) == [10, 10, 7, 8, 9]


def test_fake_constant_predictor_ties_every_node():
    flat = PowerCurve((200.0,) * 11)
    inc = [marginal_watts(flat, u, ALLOC, 4000) for u in (0, 20_000, 60_000)]
    assert inc == [0.0, 0.0, 0.0]
    assert power_scores([band(GENERAL, ECO_NODE)] * 3, inc) == [10, 10, 10]
