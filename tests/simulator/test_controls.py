"""The twin's model of the controls beyond the cap: sourced effects only, the baseline as a setting."""

from __future__ import annotations

import pytest

from simulator.controls import BASELINE_SETTINGS, Baseline, settings_for
from simulator.hardware import XEON_2S, NodeSettings, cpu_operating
from simulator.scenario import Scenario, run_scenario
from simulator.workload import GeneratorConfig

OS, MAXPERF = BASELINE_SETTINGS[Baseline.OS_DEFAULTS], BASELINE_SETTINGS[Baseline.MAX_PERFORMANCE]


def test_os_defaults_cost_nothing_extra_and_max_performance_costs_the_pinned_uncore_at_idle():
    idle_os, _ = cpu_operating(XEON_2S, 0, None, OS)
    idle_max, _ = cpu_operating(XEON_2S, 0, None, MAXPERF)
    full_os, _ = cpu_operating(XEON_2S, XEON_2S.cores, None, OS)
    full_max, _ = cpu_operating(XEON_2S, XEON_2S.cores, None, MAXPERF)
    assert idle_os == XEON_2S.idle_watts
    assert idle_max - idle_os == pytest.approx(2 * XEON_2S.uncore_pinned_watts)  # + 0 for C-states: unknown
    assert full_max == full_os  # at full load the uncore runs at its maximum anyway


def test_eco_default_unpins_the_uncore_and_epp_changes_nothing():
    eco = {"packagePowerCapWatts": 120, "epp": "balance_power", "uncore": {"minPct": 0}}
    on_maxperf = settings_for(XEON_2S, Baseline.MAX_PERFORMANCE, eco)
    assert not on_maxperf.uncore_pinned and on_maxperf.cstates_limited and on_maxperf.epp == "balance_power"
    assert settings_for(XEON_2S, Baseline.OS_DEFAULTS, eco) == NodeSettings(epp="balance_power")
    assert cpu_operating(XEON_2S, 20, None, NodeSettings(epp="power")) == cpu_operating(XEON_2S, 20, None, OS)


def test_cstates_by_name_and_latency():
    assert not settings_for(XEON_2S, Baseline.MAX_PERFORMANCE, {"cstates": {"names": {"C6": True}}}).cstates_limited
    assert settings_for(XEON_2S, Baseline.OS_DEFAULTS, {"cstates": {"maxLatencyUs": 100}}).cstates_limited
    assert not settings_for(XEON_2S, Baseline.OS_DEFAULTS, {"cstates": {"maxLatencyUs": 200}}).cstates_limited


def test_a_frequency_ceiling_slows_and_saves_like_a_cap_and_the_lower_maximum_wins():
    # 2100 MHz of a 3000 MHz all-core turbo: f = 0.7
    s = settings_for(XEON_2S, Baseline.OS_DEFAULTS, {"frequency": {"maxMHz": 2100}})
    assert s.freq_ceiling == pytest.approx(0.7)
    watts, f = cpu_operating(XEON_2S, XEON_2S.cores, None, s)
    uncapped, _ = cpu_operating(XEON_2S, XEON_2S.cores, None, OS)
    assert f == pytest.approx(0.7) and watts < uncapped
    _, f_cap = cpu_operating(XEON_2S, XEON_2S.cores, 120, OS)  # the cap alone: f = 0.64
    _, f_both = cpu_operating(XEON_2S, XEON_2S.cores, 120, s)
    assert f_both == pytest.approx(min(f_cap, 0.7))
    assert cpu_operating(XEON_2S, 0, None, s) == cpu_operating(XEON_2S, 0, None, OS)  # idle: nothing to slow


def test_the_baseline_is_a_scenario_setting_that_moves_the_unmanaged_run_only_by_sourced_watts():
    small = dict(nodes=6, workload=GeneratorConfig(hours=2), runs=("A", "J"))
    os_a, os_j = run_scenario(Scenario(**small))
    max_a, max_j = run_scenario(Scenario(**small, baseline=Baseline.MAX_PERFORMANCE))
    assert max_a.energy_j > os_a.energy_j and max_j.energy_j > os_j.energy_j
    # J's eco nodes unpin their uncore: the max-performance baseline costs J less than it costs A
    assert max_j.energy_j - os_j.energy_j < max_a.energy_j - os_a.energy_j
