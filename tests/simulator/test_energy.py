"""Energy and speed accounting against hand-computed cases."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine import JobRecord, RunSpec, SimNode, Simulation, _Running
from simulator.hardware import (
    CPU_NODE,
    XEON_2S,
    CpuModel,
    NodeClass,
    cpu_operating,
    freq_for_power,
    spec_power,
)
from simulator.workload import Job

# A server whose numbers are easy by hand: 10 cores, 100 W idle, linear to 500 W, one package
# drawing all dynamic power, dynamic power ~ f^3.
SIMPLE = NodeClass(
    name="simple",
    cpu=CpuModel(
        name="simple",
        sockets=1,
        cores_per_socket=10,
        spec_curve_watts=tuple(100.0 + 40.0 * i for i in range(11)),
        package_idle_watts=0.0,
        package_max_watts=400.0,
        package_share=1.0,
        freq_linear_share=0.0,
        min_freq_ratio=0.1,
    ),
)


def _run(node: SimNode, cores: int, work: float, until: float) -> list[tuple[_Running, float]]:
    record = JobRecord("j", "eco", 0, 0.0, work)
    node.start(_Running(record, "uid-j", cores * 1000, 0), work)
    done: list[tuple[_Running, float]] = []
    node.advance(until, done)
    return done


def test_one_node_one_job_uncapped_energy_is_power_times_time() -> None:
    node = SimNode("n", SIMPLE, managed=False)
    done = _run(node, cores=10, work=3600.0, until=7200.0)
    assert [t for _, t in done] == [pytest.approx(3600.0)]
    # 500 W for the hour of work, then 100 W idle for the second hour.
    assert node.energy_j == pytest.approx(500.0 * 3600 + 100.0 * 3600)


def test_capped_job_runs_at_cube_root_speed_and_uses_less_energy() -> None:
    node = SimNode("n", SIMPLE, managed=True)
    node.set_caps(50.0, None)  # package would draw 400 W; 50/400 = 1/8 = f^3 -> f = 0.5
    done = _run(node, cores=10, work=3600.0, until=7200.0)
    assert [t for _, t in done] == [pytest.approx(7200.0)]
    # 100 W idle + 400 W * 0.125 = 150 W for two hours.
    assert node.energy_j == pytest.approx(150.0 * 7200)
    assert node.energy_j < 500.0 * 3600 + 100.0 * 3600


def test_cap_above_the_draw_changes_nothing() -> None:
    node = SimNode("n", SIMPLE, managed=True)
    node.set_caps(450.0, None)
    done = _run(node, cores=10, work=1800.0, until=1800.0)
    assert [t for _, t in done] == [pytest.approx(1800.0)]
    assert node.energy_j == pytest.approx(500.0 * 1800)


def test_idle_power_is_never_reduced_by_a_cap() -> None:
    watts, speed = cpu_operating(XEON_2S, 0, cap_per_package=1.0)
    assert (watts, speed) == (XEON_2S.idle_watts, 1.0)


def test_spec_curve_interpolates_between_the_ten_percent_points() -> None:
    curve = XEON_2S.spec_curve_watts
    assert spec_power(curve, 0.0) == curve[0]
    assert spec_power(curve, 1.0) == curve[10]
    assert spec_power(curve, 0.15) == pytest.approx((curve[1] + curve[2]) / 2)


def test_whole_simulation_energy_matches_hand_computation() -> None:
    """One node, one job of 8 of 80 cores for an hour, a two-hour trace: 190 W then 115 W idle."""
    job = Job(id="j1", arrival=0.0, demand="performance", cpu_millis=8000, work_seconds=3600.0)
    result = Simulation(RunSpec("A", "unmanaged", None), [CPU_NODE], [job], horizon=7200.0, seed=1).run()
    assert result.unfinished == 0
    assert result.jobs[0].end == pytest.approx(3600.0)
    assert result.energy_j == pytest.approx(190.0 * 3600 + 115.0 * 3600)
    assert result.end_time == pytest.approx(7200.0)


@settings(max_examples=200, deadline=None)
@given(busy=st.floats(0, 80), cap=st.floats(1, 400), lower=st.floats(0.1, 1.0))
def test_a_cap_never_speeds_up_or_raises_power(busy: float, cap: float, lower: float) -> None:
    uncapped_w, uncapped_f = cpu_operating(XEON_2S, busy, None)
    capped_w, capped_f = cpu_operating(XEON_2S, busy, cap)
    tighter_w, tighter_f = cpu_operating(XEON_2S, busy, cap * lower)
    assert uncapped_f == 1.0
    assert capped_f <= uncapped_f and tighter_f <= capped_f + 1e-12
    assert capped_w <= uncapped_w + 1e-9 and tighter_w <= capped_w + 1e-9
    assert capped_w >= XEON_2S.idle_watts - 1e-9


def test_freq_solver_inverts_the_power_law() -> None:
    for ratio in (0.05, 0.2, 0.5, 0.9):
        f = freq_for_power(ratio, 0.3, 0.01)
        assert 0.3 * f + 0.7 * f**3 == pytest.approx(ratio)
    assert freq_for_power(0.001, 0.3, 0.3) == 0.3
    assert math.isclose(freq_for_power(2.0, 0.3, 0.3), 1.0)


def test_a_performance_job_on_a_capped_node_is_never_faster() -> None:
    ends = []
    for cap in (None, 300.0, 120.0, 60.0):
        node = SimNode("n", CPU_NODE, managed=True)
        node.set_caps(cap, None)
        done = _run(node, cores=80, work=3600.0, until=4 * 3600.0)
        ends.append(done[0][1])
    assert ends[0] == pytest.approx(3600.0)
    assert ends == sorted(ends)
