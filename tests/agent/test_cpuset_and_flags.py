"""``--reserved-cpus`` and cpuset lists: the kubelet's notation, parsed and printed back; bad lists are clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.cli import agent_settings
from agent.cpuset import CpusetError, format_cpuset, parse_cpuset
from joulie.cli import build_parser
from joulie.errors import ConfigError


def test_the_kubelets_notation():
    assert parse_cpuset("0-1,32-33") == {0, 1, 32, 33}
    assert parse_cpuset(" 4 , 6-7 ") == {4, 6, 7} and parse_cpuset("") == frozenset()
    assert format_cpuset({0, 1, 2, 3, 8, 10, 11}) == "0-3,8,10-11" and format_cpuset([]) == ""


@given(st.frozensets(st.integers(min_value=0, max_value=512), max_size=64))
def test_format_then_parse_is_the_same_set(cpus):
    assert parse_cpuset(format_cpuset(cpus)) == cpus


@pytest.mark.parametrize(
    "bad, why", [("3-1", "ends before it starts"), ("0-x", "not a CPU number"), ("70000", "stop at")]
)
def test_bad_lists_say_what_is_wrong(bad, why):
    with pytest.raises(CpusetError, match=why):
        parse_cpuset(bad)


def test_flags_reach_the_settings():
    s = agent_settings(build_parser().parse_args(["agent", "--node-name", "n1", "--reserved-cpus", "0-1"]))
    assert s.reserved_cpus == {0, 1} and s.pod_resources_socket == "/var/lib/kubelet/pod-resources/kubelet.sock"
    off = agent_settings(build_parser().parse_args(["agent", "--node-name", "n1", "--pod-resources-socket", ""]))
    assert off.pod_resources_socket == ""
    with pytest.raises(ConfigError, match="--reserved-cpus: '2-1'"):
        agent_settings(build_parser().parse_args(["agent", "--node-name", "n1", "--reserved-cpus", "2-1"]))
