"""Pod power profiles end to end: the agent's loop against an API server over HTTP (kmock's emulator),
a PodResources gRPC server on a Unix socket, and an emulated sysfs tree.

Pods appear and disappear in both the API and the kubelet; the agent advertises the profiles on
its Node, tunes the pods' cores, reports which pod holds which cores in the NodePowerProfile's
status, puts an Event on a pod whose request is wrong, and survives a kubelet restart.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from agent.kube import KubeSource
from agent.podresources.client import PodResourcesClient
from agent.run import Runner, _kube_publisher, build
from agent.settings import AgentSettings
from joulie.kube.client import ApiError, build_api_client, request_json
from tests.agent.hw import CPUINFO_MIN, intel_server, read, snapshot
from tests.agent.kubelet import Kubelet, PodAllocation
from tests.agent.podfixtures import batch_pod, db_pod, sample_profile_objects
from tests.agent.test_kube_e2e import eventually as _eventually

kmock = pytest.importorskip("kmock")

NPP = "/apis/joulie.io/v1alpha1/nodepowerprofiles"


def eventually(check: Any, what: str = "") -> Any:
    return _eventually(check, timeout=30.0, what=what)  # the machine is shared: room, not a race


PP = "/apis/joulie.io/v1alpha1/powerprofiles"
CPU = "devices/system/cpu"


@pytest.fixture
def api(tmp_path):
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
        for res in (
            "v1/nodes",
            "v1/pods",
            "v1/events",
            "joulie.io/v1alpha1/nodepowerprofiles",
            "joulie.io/v1alpha1/telemetryprofiles",
            "joulie.io/v1alpha1/powerprofiles",
        ):
            em.resources[res] = {}
        srv = kmock.Server(em, port=port)
        await srv.__aenter__()
        return em, srv

    em, srv = run(start())
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: k\n"
        f"clusters: [{{name: k, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: k, context: {cluster: k, user: u}}]\n"
    )
    client = build_api_client(str(kubeconfig), None)
    yield client

    async def close() -> None:
        runner = srv.server.runner
        runner._shutdown_timeout = 0.1
        for conn in list(runner.server.connections):
            conn.force_close()
        await srv.__aexit__(None, None, None)
        await em.__aexit__(None, None, None)

    try:
        run(close())
    finally:
        client.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def req(api, method: str, path: str, body: Any = None, ct: str | None = None) -> Any:
    return request_json(api, method, path, body=body, content_type=ct)


def pod_events(api, namespace: str) -> list[dict[str, Any]]:
    return req(api, "GET", f"/api/v1/namespaces/{namespace}/events").get("items") or []


def capacity(api) -> dict[str, str]:
    cap = req(api, "GET", "/api/v1/nodes/n1")["status"]["capacity"]
    return {k: v for k, v in cap.items() if k.startswith("power.joulie.io/")}


def npp_status(api) -> dict[str, Any]:
    return req(api, "GET", f"{NPP}/node-n1").get("status") or {}


def test_pods_appear_and_disappear_over_the_api_and_the_kubelet(api, sysroot, state_dir, tmp_path):
    intel_server(sysroot, cpus=16)
    before = snapshot(sysroot)
    kubelet = Kubelet(tmp_path / "kubelet.sock").start()
    req(
        api,
        "POST",
        "/api/v1/nodes",
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "n1"},
            "status": {"capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"}},
        },
    )
    for obj in sample_profile_objects():
        req(api, "POST", PP, obj)
    req(
        api,
        "POST",
        NPP,
        {
            "apiVersion": "joulie.io/v1alpha1",
            "kind": "NodePowerProfile",
            "metadata": {"name": "node-n1", "generation": 1},
            "spec": {"nodeName": "n1", "profile": "eco", "cpu": {"packagePowerCapWatts": 120, "epp": "balance_power"}},
        },
    )
    settings = AgentSettings(
        node_name="n1",
        sysfs_root=str(sysroot),
        state_dir=str(state_dir),
        gpu="off",
        reserved_cpus=frozenset({0, 1}),
        pod_resources_socket=str(kubelet.socket_path),
    )
    engine, telemetry = build(settings)
    source = KubeSource(api, "n1", pod_profiles=True)
    assert source.start(sync_timeout=10)
    pods_client = PodResourcesClient(settings.pod_resources_socket)
    runner = Runner(engine, telemetry, source, 0.2, _kube_publisher(source, dry_run=False), pods_client)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        want = {f"power.joulie.io/{n}": "14" for n in ("performance", "balance-performance", "balance-power", "power")}
        eventually(lambda: capacity(api) == want, what="profiles advertised on the Node")

        # two pods arrive: the API first, then the kubelet admits them and pins their CPUs
        db = db_pod()
        db["metadata"].pop("uid")
        req(api, "POST", "/api/v1/namespaces/prod/pods", db)
        req(api, "POST", "/api/v1/namespaces/batch/pods", batch_pod())
        kubelet.set(
            PodAllocation("prod", "db", {"postgres": [4, 5, 6, 7], "metrics": []}),
            PodAllocation("batch", "worker", {"worker": [8, 9]}),
        )
        held = [("db", "4-7", "performance", "applied"), ("worker", "8-9", "balance-power", "applied")]

        def holders() -> list:
            containers = (npp_status(api).get("podProfiles") or {}).get("containers") or []
            return sorted((c["pod"], c["cpus"], c["profile"], c["result"]) for c in containers)

        eventually(lambda: holders() == held, what="both pods' cores reported")
        assert read(sysroot, f"{CPU}/cpu4/cpufreq/scaling_governor") == "performance"
        assert read(sysroot, f"{CPU}/cpu8/cpufreq/scaling_max_freq") == "3200000"  # balance-power: 80 %
        st = npp_status(api)
        pp = st["podProfiles"]
        assert pp["reservedCPUs"] == "0-1" and pp["sharedCPUs"] == "2-3,10-15"
        cond = next(c for c in st["conditions"] if c["type"] == "PodProfilesApplied")
        assert cond["status"] == "True"
        applied = eventually(lambda: [e for e in pod_events(api, "prod") if e["reason"] == "PowerProfileApplied"])
        assert applied[0]["involvedObject"]["kind"] == "Pod" and "CPUs 4-7" in applied[0]["message"]

        # a kubelet restart: the socket goes away and comes back; nothing is handed back meanwhile
        kubelet.stop()
        eventually(
            lambda: (
                next(c for c in npp_status(api)["conditions"] if c["type"] == "PodProfilesApplied")["reason"]
                == "SocketMissing"
            ),
            what="the outage reported",
        )
        assert read(sysroot, f"{CPU}/cpu4/cpufreq/scaling_governor") == "performance"
        kubelet.start()

        # db goes away; a new pod asks for 2 CPUs of "performance" but holds 4: refused, with an Event
        req(api, "DELETE", "/api/v1/namespaces/prod/pods/db")
        wrong = db_pod(performance=2)
        wrong["metadata"].update(name="db2")
        wrong["metadata"].pop("uid")
        req(api, "POST", "/api/v1/namespaces/prod/pods", wrong)
        kubelet.set(
            PodAllocation("prod", "db2", {"postgres": [4, 5, 6, 7]}),
            PodAllocation("batch", "worker", {"worker": [8, 9]}),
        )
        refused = eventually(
            lambda: [
                e
                for e in pod_events(api, "prod")
                if e["reason"] == "PowerProfileRefused" and e["involvedObject"]["name"] == "db2"
            ]
        )
        assert refused[0]["type"] == "Warning" and "RequestMismatch" in refused[0]["message"]
        eventually(
            lambda: (
                (
                    read(sysroot, f"{CPU}/cpu4/cpufreq/scaling_governor"),
                    read(sysroot, f"{CPU}/cpu4/cpufreq/scaling_min_freq"),
                    read(sysroot, f"{CPU}/cpu4/cpuidle/state3/disable"),
                )
                == ("powersave", str(CPUINFO_MIN), "0")
            ),
            what="4-7 back to the shared pool",
        )

        # a kubelet restart that re-registers the Node zeroes extended resources: they come back
        req(
            api,
            "PATCH",
            "/api/v1/nodes/n1/status",
            {"status": {"capacity": dict.fromkeys(want, "0")}},
            "application/merge-patch+json",
        )
        eventually(lambda: capacity(api) == want, what="capacity re-advertised")

        req(api, "DELETE", f"{NPP}/node-n1")  # the node leaves management
        eventually(lambda: capacity(api) == {}, what="profiles withdrawn")
        eventually(lambda: snapshot(sysroot) == before, what="originals restored")
    finally:
        runner.stop()
        thread.join(10)
        kubelet.stop()
    assert not thread.is_alive()
    with pytest.raises(ApiError):
        req(api, "GET", "/api/v1/namespaces/prod/pods/db")
