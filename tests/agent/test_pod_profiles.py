"""Pod power profiles on exclusive cores: the agent against a real PodResources gRPC server on a Unix
socket (the generated stubs), on an emulated Xeon sysfs tree; exact file contents.

The node: 16 CPUs, intel_pstate with EPP, intel_idle POLL/C1/C1E/C6, two RAPL packages; the
kubelet reserves CPUs 0-1. Two Guaranteed pods hold exclusive CPUs (prod/db's postgres 4-7 under
"performance", batch/worker's worker 8-9 under "balance-power"), the rest is the shared pool.
"""

from __future__ import annotations

import os

import pytest

from agent.engine import PodCoresInput
from agent.podresources.client import PodResourcesClient
from tests.agent.conftest import cond, make_engine, profile
from tests.agent.hw import (
    CPUINFO_MAX,
    CPUINFO_MIN,
    INTEL_EPP_PREFS,
    INTEL_IDLE_STATES,
    add_cpuidle,
    add_policy,
    add_rapl,
    intel_server,
    read,
    snapshot,
)
from tests.agent.kubelet import Kubelet, PodAllocation
from tests.agent.podfixtures import batch_pod, container, db_pod, pod, sample_profiles, web_pod

CPU = "devices/system/cpu"
PKG0 = "class/powercap/intel-rapl:0/constraint_0_power_limit_uw"
RESERVED = frozenset({0, 1})
ECO = {"packagePowerCapWatts": 120, "epp": "balance_power"}  # the labeller's eco template with a cap


def gov(c: int) -> str:
    return f"{CPU}/cpu{c}/cpufreq/scaling_governor"


def epp(c: int) -> str:
    return f"{CPU}/cpu{c}/cpufreq/energy_performance_preference"


def minf(c: int) -> str:
    return f"{CPU}/cpu{c}/cpufreq/scaling_min_freq"


def maxf(c: int) -> str:
    return f"{CPU}/cpu{c}/cpufreq/scaling_max_freq"


def c6(c: int) -> str:
    return f"{CPU}/cpu{c}/cpuidle/state3/disable"


def cpu_files(snap: dict[str, str], cpus) -> dict[str, str]:
    """The files of ``cpus`` (policies are cpufreq/policyN, cpuidle under cpuN)."""
    keys = tuple(f"{CPU}/cpufreq/policy{c}/" for c in cpus) + tuple(f"{CPU}/cpu{c}/" for c in cpus)
    return {k: v for k, v in snap.items() if k.startswith(keys)}


@pytest.fixture
def kubelet(tmp_path):
    k = Kubelet(tmp_path / "pod-resources" / "kubelet.sock")
    k.socket_path.parent.mkdir()
    k.start()
    k.set(
        PodAllocation("prod", "db", {"postgres": [4, 5, 6, 7], "metrics": []}),
        PodAllocation("batch", "worker", {"worker": [8, 9]}),
        PodAllocation("default", "web", {"nginx": []}),
    )
    yield k
    k.stop()


@pytest.fixture
def client(kubelet):
    c = PodResourcesClient(str(kubelet.socket_path))
    yield c
    c.close()


@pytest.fixture
def node(sysroot):
    return intel_server(sysroot, cpus=16)


def engine_for(sysroot, state_dir):
    return make_engine(sysroot, state_dir, reserved_cpus=RESERVED)


def run(engine, client, pods, profiles=None, cpu=ECO, generation=1):
    return engine.reconcile(
        profile(cpu, generation=generation),
        pods=PodCoresInput(pods=pods, profiles=profiles or sample_profiles(), kubelet=client.poll()),
    )


def test_each_pod_gets_its_profile_on_its_own_cores_and_nothing_else(node, state_dir, kubelet, client):
    before = snapshot(node)
    engine = engine_for(node, state_dir)
    res = run(engine, client, [db_pod(), batch_pod(), web_pod()])
    assert res.ok, res.status.conditions
    for c in (4, 5, 6, 7):  # performance: governor, EPP, minimum at the top, C6 off (170 us > 10 us)
        assert (read(node, gov(c)), read(node, epp(c))) == ("performance", "performance")
        assert (read(node, minf(c)), read(node, maxf(c))) == (str(CPUINFO_MAX), str(CPUINFO_MAX))
        assert read(node, c6(c)) == "1" and read(node, f"{CPU}/cpu{c}/cpuidle/state2/disable") == "0"
    ceiling = CPUINFO_MIN + round(0.8 * (CPUINFO_MAX - CPUINFO_MIN))
    for c in (8, 9):  # balance-power: EPP and a ceiling at 80 % of the range
        assert (read(node, gov(c)), read(node, epp(c))) == ("powersave", "balance_power")
        assert read(node, maxf(c)) == str(ceiling) and read(node, minf(c)) == str(CPUINFO_MIN)
    for c in (2, 3, 10, 11, 12, 13, 14, 15):  # the shared pool: the node's eco template only
        assert (read(node, gov(c)), read(node, epp(c))) == ("powersave", "balance_power")
        assert read(node, maxf(c)) == str(CPUINFO_MAX) and read(node, c6(c)) == "0"
    assert cpu_files(snapshot(node), RESERVED) == cpu_files(before, RESERVED), "reserved CPUs are never touched"
    assert read(node, PKG0) == "120000000", "the eco package cap still bounds the package"

    pp = res.status.pod_profiles
    assert (pp.reserved_cpus, pp.shared_cpus) == ("0-1", "2-3,10-15")
    held = {(e.pod, e.container): (e.profile, e.cpus, e.result) for e in pp.containers}
    assert held == {
        ("db", "postgres"): ("performance", "4-7", "applied"),
        ("worker", "worker"): ("balance-power", "8-9", "applied"),
    }
    assert pp.summary == "balance-power=8-9 performance=4-7"
    assert {o.name: o.capacity for o in pp.profiles} == dict.fromkeys(sample_profiles(), 14)
    assert res.pod_profiles.capacity == {f"power.joulie.io/{n}": 14 for n in sample_profiles()}
    applied = cond(res.status, "PodProfilesApplied")
    assert applied.status == "True" and "2 container(s) on 6 CPU(s)" in applied.message
    assert sorted((e.pod, e.type, e.reason) for e in res.pod_profiles.events) == [
        ("db", "Normal", "PowerProfileApplied"),
        ("worker", "Normal", "PowerProfileApplied"),
    ]
    metrics = engine.metrics.render().decode()
    assert 'joulie_agent_pod_profile_cpus{profile="performance"} 4.0' in metrics
    assert 'joulie_agent_pod_profile_cpus{profile="balance-power"} 2.0' in metrics
    assert 'joulie_agent_pod_profile_cpus{profile="power"} 0.0' in metrics
    again = run(engine, client, [db_pod(), batch_pod(), web_pod()])
    assert again.wrote == 0 and again.pod_profiles.events == [], "a second pass verifies, writes nothing, no Events"


def test_a_pod_that_goes_away_gives_its_cores_back_to_the_shared_pool(node, state_dir, kubelet, client):
    before = snapshot(node)
    engine = engine_for(node, state_dir)
    run(engine, client, [db_pod(), batch_pod()])
    kubelet.set(PodAllocation("batch", "worker", {"worker": [8, 9]}))  # db deleted: the kubelet frees 4-7
    res = run(engine, client, [batch_pod()])
    for c in (4, 5, 6, 7):  # the node's settings (EPP balance_power), originals for the rest
        assert (read(node, gov(c)), read(node, epp(c))) == ("powersave", "balance_power")
        assert (read(node, minf(c)), read(node, maxf(c))) == (str(CPUINFO_MIN), str(CPUINFO_MAX))
        assert read(node, c6(c)) == "0"
    assert [e.pod for e in res.status.pod_profiles.containers] == ["worker"]
    assert res.status.pod_profiles.shared_cpus == "2-7,10-15"
    kubelet.set()
    run(engine, client, [])
    assert engine.reconcile(None, pods=PodCoresInput()).pod_profiles.capacity == {}, "node left management"
    assert snapshot(node) == before, "every original back"


def test_a_request_that_does_not_match_the_exclusive_cpus_is_refused_with_a_reason(node, state_dir, kubelet, client):
    engine = engine_for(node, state_dir)
    res = run(engine, client, [db_pod(performance=2), batch_pod()])
    refused = next(e for e in res.status.pod_profiles.containers if e.pod == "db")
    assert (refused.result, refused.reason) == ("refused", "RequestMismatch")
    assert "power.joulie.io/performance: 2 but holds 4 exclusive CPUs (4-7)" in refused.message
    (event,) = [e for e in res.pod_profiles.events if e.pod == "db"]
    assert (event.type, event.reason, event.namespace, event.uid) == (
        "Warning",
        "PowerProfileRefused",
        "prod",
        "uid-prod-db",
    )
    assert event.message.startswith("RequestMismatch: container postgres requests")
    for c in (4, 5, 6, 7):  # shared pool settings
        assert (read(node, gov(c)), read(node, epp(c)), read(node, c6(c))) == ("powersave", "balance_power", "0")
    assert cond(res.status, "PodProfilesApplied").status == "True", "a wrong request is the pod's, not the node's"
    assert run(engine, client, [db_pod(performance=2), batch_pod()]).pod_profiles.events == [], "one Event"
    assert 'joulie_agent_pod_profile_refusals_total{reason="RequestMismatch"} 1.0' in engine.metrics.render().decode()


@pytest.mark.parametrize(
    "the_pod, allocation, reason",
    [
        (pod("db", "prod", container("postgres", "4", performance=4), qos="Burstable"), [4, 5, 6, 7], "NotGuaranteed"),
        (pod("db", "prod", container("postgres", "3500m", performance=4)), [], "NoExclusiveCpus"),
        (pod("db", "prod", container("postgres", "4", turbo=4)), [4, 5, 6, 7], "UnknownProfile"),
        (pod("db", "prod", container("postgres", "4", performance=4, power=4)), [4, 5, 6, 7], "MultipleProfiles"),
        (pod("db", "prod", container("postgres", "2", performance=2)), [1, 2], "ReservedCpus"),
    ],
)
def test_other_refusals(node, state_dir, kubelet, client, the_pod, allocation, reason):
    kubelet.set(PodAllocation("prod", "db", {"postgres": allocation}))
    engine = engine_for(node, state_dir)
    before = snapshot(node)
    res = run(engine, client, [the_pod], cpu={})
    (entry,) = res.status.pod_profiles.containers
    assert (entry.result, entry.reason) == ("refused", reason), entry.message
    assert snapshot(node) == before


def test_a_shared_profile_cannot_be_requested(node, state_dir, kubelet, client):
    profiles = sample_profiles()
    profiles["shared-eco"] = profiles["power"].model_copy(update={"shared": True})
    kubelet.set(PodAllocation("prod", "db", {"postgres": [4, 5]}))
    engine = engine_for(node, state_dir)
    res = run(engine, client, [pod("db", "prod", container("postgres", "2", shared_eco=2))], profiles)
    assert res.status.pod_profiles.containers[0].reason == "SharedProfile"
    assert "power.joulie.io/shared-eco" not in res.pod_profiles.capacity


def test_the_kubelet_going_away_keeps_the_cores_as_they_are_and_says_why(node, state_dir, kubelet, client):
    engine = engine_for(node, state_dir)
    run(engine, client, [db_pod(), batch_pod()])
    tuned = snapshot(node)
    kubelet.stop()  # kubelet restarting: the socket is gone
    res = run(engine, client, [db_pod(), batch_pod()])
    assert snapshot(node) == tuned, "cores are not handed back because the kubelet was away"
    down = cond(res.status, "PodProfilesApplied")
    assert (down.status, down.reason) == ("False", "SocketMissing") and "last allocation" in down.message
    assert res.pod_profiles.capacity is not None, "the advertisement stays (removing it would fail re-admission)"
    assert 'joulie_agent_pod_resources_errors_total{reason="SocketMissing"} 1.0' in engine.metrics.render().decode()

    kubelet.set(PodAllocation("batch", "worker", {"worker": [8, 9]}))  # while it was down, db went away
    kubelet.start()
    res = run(engine, client, [batch_pod()])
    assert cond(res.status, "PodProfilesApplied").status == "True"
    assert read(node, gov(4)) == "powersave" and read(node, gov(8)) == "powersave"
    assert read(node, epp(8)) == "balance_power" and read(node, minf(4)) == str(CPUINFO_MIN)


def test_a_malformed_reply_changes_nothing(node, state_dir, kubelet, client):
    engine = engine_for(node, state_dir)
    run(engine, client, [db_pod(), batch_pod()])
    tuned = snapshot(node)
    kubelet.restart(corrupt=True)  # bytes that are no ListPodResourcesResponse
    res = run(engine, client, [db_pod(), batch_pod()])
    bad = cond(res.status, "PodProfilesApplied")
    assert (bad.status, bad.reason) == ("False", "MalformedReply") and snapshot(node) == tuned
    kubelet.restart()
    kubelet.set(  # decodes, but CPU 8 cannot be exclusive to two containers
        PodAllocation("prod", "db", {"postgres": [4, 5, 6, 7]}), PodAllocation("batch", "worker", {"worker": [7, 8]})
    )
    res = run(engine, client, [db_pod(), batch_pod()])
    bad = cond(res.status, "PodProfilesApplied")
    assert bad.reason == "MalformedReply" and "CPU 7 is listed as exclusive to both" in bad.message
    assert snapshot(node) == tuned


def test_no_socket_from_the_start_advertises_nothing(node, state_dir, tmp_path):
    engine = engine_for(node, state_dir)
    client = PodResourcesClient(str(tmp_path / "absent.sock"))
    before = snapshot(node)
    res = run(engine, client, [db_pod()], cpu={})
    assert res.pod_profiles.capacity is None, "the node's capacity is left as it is"
    assert res.status.pod_profiles.containers is None and snapshot(node) == before
    assert cond(res.status, "PodProfilesApplied").reason == "SocketMissing"


def test_sigterm_restore_and_crash_restart(node, state_dir, kubelet, client):
    before = snapshot(node)
    engine = engine_for(node, state_dir)
    run(engine, client, [db_pod(), batch_pod()])
    # a crash: a new agent on the same state directory, and db went away meanwhile
    kubelet.set(PodAllocation("batch", "worker", {"worker": [8, 9]}))
    engine2 = engine_for(node, state_dir)
    run(engine2, client, [batch_pod()])
    assert (read(node, gov(4)), read(node, minf(4)), read(node, c6(4))) == ("powersave", str(CPUINFO_MIN), "0")
    assert read(node, epp(8)) == "balance_power" and read(node, maxf(8)) != str(CPUINFO_MAX)
    report = engine2.restore_all()  # SIGTERM
    assert not report.failed and snapshot(node) == before


def test_the_dvfs_package_cap_bounds_a_performance_pod(sysroot, state_dir, kubelet, client):
    add_rapl(sysroot, read_only=True)  # RAPL not writable: the cap falls back to DVFS
    for c in range(16):
        add_policy(
            sysroot,
            c,
            driver="intel_pstate",
            governors="performance powersave",
            governor="powersave",
            cpuinfo=(CPUINFO_MIN, CPUINFO_MAX),
            epp="balance_performance",
            epp_prefs=INTEL_EPP_PREFS,
        )
    add_cpuidle(sysroot, 16, INTEL_IDLE_STATES, "intel_idle")
    engine = engine_for(sysroot, state_dir)
    res = run(engine, client, [db_pod(), batch_pod()], cpu={"packagePowerCapPctOfMax": 50})
    assert res.ok and res.status.cpu.backend == "dvfs"
    capped = CPUINFO_MIN + round(0.5 * (CPUINFO_MAX - CPUINFO_MIN))
    for c in (4, 5, 6, 7):  # performance asks for the top; the cap's maximum wins, min follows it
        assert (read(sysroot, minf(c)), read(sysroot, maxf(c))) == (str(capped), str(capped))
    assert read(sysroot, maxf(2)) == str(capped) and read(sysroot, maxf(0)) == str(capped)


def test_a_failing_write_rolls_back_that_container_only(node, state_dir, kubelet, client):
    os.chmod(node / f"{CPU}/cpufreq/policy6/energy_performance_preference", 0o444)
    before = snapshot(node)
    engine = engine_for(node, state_dir)
    res = run(engine, client, [db_pod(), batch_pod()], cpu={})
    db = next(e for e in res.status.pod_profiles.containers if e.pod == "db")
    assert (db.result, db.reason) == ("failed", "ApplyFailed") and "epp" in db.message
    assert read(node, epp(4)) == before[epp(4).replace("cpu4/cpufreq", "cpufreq/policy4")], "epp rolled back"
    assert read(node, epp(8)) == "balance_power", "the other container is applied"
    applied = cond(res.status, "PodProfilesApplied")
    assert (applied.status, applied.reason) == ("False", "ApplyFailed") and not res.ok
    assert any(e.reason == "PowerProfileFailed" for e in res.pod_profiles.events)


def test_shared_cpufreq_policies_cannot_honour_per_core_frequency(sysroot, state_dir, kubelet, client):
    """acpi-cpufreq with hardware coordination: one policy drives CPUs 0-7 (cpuN/cpufreq -> policy0)."""
    add_policy(
        sysroot,
        0,
        driver="acpi-cpufreq",
        governors="powersave performance",
        governor="powersave",
        cpuinfo=(CPUINFO_MIN, CPUINFO_MAX),
    )
    for c in range(1, 16):
        (sysroot / f"{CPU}/cpu{c}").mkdir(parents=True)
        (sysroot / f"{CPU}/cpu{c}/cpufreq").symlink_to("../cpufreq/policy0")
    engine = engine_for(sysroot, state_dir)
    res = run(engine, client, [db_pod()], cpu={})
    offers = {o.name: o for o in res.status.pod_profiles.profiles}
    assert offers["performance"].capacity is None and "cannot be set per core" in offers["performance"].message
    assert res.pod_profiles.capacity == {}
    assert res.status.pod_profiles.containers[0].reason == "ProfileNotHonoured"
    assert read(sysroot, gov(4)) == "powersave"


def test_reserved_cpus_are_outside_the_nodes_own_controls_too(node, state_dir):
    before = snapshot(node)
    engine = engine_for(node, state_dir)
    assert engine.reconcile(profile({"governor": "performance", "epp": "performance"})).ok
    assert cpu_files(snapshot(node), RESERVED) == cpu_files(before, RESERVED)
    assert read(node, gov(2)) == "performance"


def test_a_restarted_agent_keeps_the_pod_cores_until_the_kubelet_answers(node, state_dir, kubelet, client):
    engine = engine_for(node, state_dir)
    run(engine, client, [db_pod(), batch_pod()])
    tuned = snapshot(node)
    kubelet.stop()  # the agent crashes and comes back while the kubelet restarts too
    engine2 = engine_for(node, state_dir)
    client2 = PodResourcesClient(str(kubelet.socket_path))
    res = run(engine2, client2, [db_pod(), batch_pod()])
    assert snapshot(node) == tuned, "the node's settings do not overwrite cores that may still be a pod's"
    down = cond(res.status, "PodProfilesApplied")
    assert (
        down.reason == "SocketMissing" and "CPUs 4-9 keep the profiles set before the agent restarted" in down.message
    )
    kubelet.set(PodAllocation("batch", "worker", {"worker": [8, 9]}))
    kubelet.start()
    res = run(engine2, client2, [batch_pod()])
    assert cond(res.status, "PodProfilesApplied").status == "True"
    assert (read(node, gov(4)), read(node, epp(4)), read(node, minf(4))) == (
        "powersave",
        "balance_power",
        str(CPUINFO_MIN),
    )
    assert read(node, maxf(8)) == tuned[maxf(8).replace("cpu8/cpufreq", "cpufreq/policy8")]
    client2.close()
