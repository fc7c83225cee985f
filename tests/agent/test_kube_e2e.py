"""The agent end to end against an API server over HTTP (kmock's emulator), on an emulated sysfs."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s

from agent.kube import KubeSource, select_telemetry_profile
from agent.run import Runner, _kube_publisher, build
from agent.settings import AgentSettings
from tests.agent.hw import intel_two_socket, read, snapshot

kmock = pytest.importorskip("kmock")

G, V = "joulie.io", "v1alpha1"
PKG0 = "class/powercap/intel-rapl:0/constraint_0_power_limit_uw"


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (k8s.ApiException, KeyError, TypeError, StopIteration):
            last = None
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: last {last!r}")


@pytest.fixture
def api_server():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def start() -> Any:
        em = kmock.KubernetesEmulator()
        await em.__aenter__()
        em.resources[f"{G}/{V}/nodepowerprofiles"] = {}
        em.resources[f"{G}/{V}/telemetryprofiles"] = {}
        srv = kmock.Server(em, port=port)
        await srv.__aenter__()
        return em, srv

    em, srv = run(start())
    cfg = k8s.Configuration()
    cfg.host = f"http://127.0.0.1:{port}"
    yield cfg

    async def close() -> None:
        # Drop open connections (the agent's watches are long polls), as a dying API server would.
        runner = srv.server.runner
        runner._shutdown_timeout = 0.1
        for conn in list(runner.server.connections):
            conn.force_close()
        await srv.__aexit__(None, None, None)
        await em.__aexit__(None, None, None)

    try:
        run(close())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def _settings(sysroot, state_dir) -> AgentSettings:
    return AgentSettings(node_name="n1", sysfs_root=str(sysroot), state_dir=str(state_dir), gpu="off")


def test_agent_applies_reports_and_restores_over_the_api(api_server, sysroot, state_dir):
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    admin = k8s.CustomObjectsApi(k8s.ApiClient(api_server))
    admin.create_cluster_custom_object(
        G,
        V,
        "nodepowerprofiles",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "NodePowerProfile",
            "metadata": {"name": "node-n1", "generation": 1},
            "spec": {"nodeName": "n1", "profile": "eco", "cpu": {"packagePowerCapWatts": 120}},
        },
    )
    admin.create_cluster_custom_object(
        G,
        V,
        "nodepowerprofiles",
        {  # another node's: never touched
            "apiVersion": f"{G}/{V}",
            "kind": "NodePowerProfile",
            "metadata": {"name": "node-n2"},
            "spec": {"nodeName": "n2", "profile": "eco", "cpu": {"packagePowerCapWatts": 60}},
        },
    )
    admin.create_cluster_custom_object(
        G,
        V,
        "telemetryprofiles",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "TelemetryProfile",
            "metadata": {"name": "tp-n1"},
            "spec": {"target": {"scope": "node", "nodeName": "n1"}, "controls": {"cpu": {"mode": "auto"}}},
        },
    )

    engine, telemetry = build(_settings(sysroot, state_dir))
    source = KubeSource(k8s.ApiClient(api_server), "n1")
    assert source.start(sync_timeout=10)
    runner = Runner(engine, telemetry, source, interval=0.2, publish=_kube_publisher(source, dry_run=False))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: read(sysroot, PKG0) == "120000000", what="cap written")

        def npp_status() -> dict:
            return admin.get_cluster_custom_object(G, V, "nodepowerprofiles", "node-n1").get("status") or {}

        st = eventually(lambda: npp_status().get("conditions") and npp_status(), what="status")
        applied = next(c for c in st["conditions"] if c["type"] == "Applied")
        assert applied["status"] == "True" and applied["observedGeneration"] == 1
        assert st["cpu"]["backend"] == "rapl" and st["cpu"]["packagePowerCapWatts"] == 120
        tp = eventually(
            lambda: admin.get_cluster_custom_object(G, V, "telemetryprofiles", "tp-n1")["status"],
            what="TelemetryProfile status",
        )
        assert tp["control"]["cpu"]["result"] == "applied"
        assert tp["control"]["cpu"]["observed"] == {"intel-rapl:0": "120 W", "intel-rapl:1": "120 W"}
        assert admin.get_cluster_custom_object(G, V, "nodepowerprofiles", "node-n2").get("status") is None

        admin.patch_cluster_custom_object(
            G, V, "nodepowerprofiles", "node-n1", {"spec": {"cpu": {"packagePowerCapWatts": 100}}}
        )
        eventually(lambda: read(sysroot, PKG0) == "100000000", what="new cap applied from the watch")
        admin.patch_cluster_custom_object(
            G, V, "nodepowerprofiles", "node-n1", {"spec": {"cpu": {"packagePowerCapWatts": 2}}}
        )
        eventually(
            lambda: (
                next(c for c in npp_status()["conditions"] if c["type"] == "Degraded")["reason"] == "CapBelowMinimum"
            ),
            what="refusal",
        )
        assert read(sysroot, PKG0) == "100000000"

        admin.delete_cluster_custom_object(G, V, "nodepowerprofiles", "node-n1")  # node leaves management
        eventually(lambda: snapshot(sysroot) == before, what="originals restored")
    finally:
        runner.stop()
        thread.join(10)
    assert not thread.is_alive()


def test_node_scoped_telemetry_profile_wins_over_cluster_scope():
    objs = [
        {"metadata": {"name": "all"}, "spec": {"target": {"scope": "cluster"}}},
        {"metadata": {"name": "other"}, "spec": {"target": {"scope": "node", "nodeName": "n2"}}},
        {
            "metadata": {"name": "mine"},
            "spec": {"target": {"scope": "node", "nodeName": "n1"}, "controls": {"cpu": {"mode": "dvfs"}}},
        },
    ]
    tp, err = select_telemetry_profile(objs, "n1")
    assert err is None and tp.metadata["name"] == "mine" and tp.spec.controls.cpu.mode == "dvfs"
    tp, _ = select_telemetry_profile(objs, "n3")
    assert tp.metadata["name"] == "all"
    assert select_telemetry_profile(objs[1:2], "n3") == (None, None)
