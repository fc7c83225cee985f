"""A Kubernetes API over real HTTP for the adapter tests.

By default: kmock's ``KubernetesEmulator`` (an in-memory API server on aiohttp) runs
in a background event loop, and the real ``kubernetes`` client talks to it over
TCP. With ``JOULIE_TEST_KUBECONFIG=/path/to/kubeconfig`` the same tests run against
that cluster instead (envtest, kind, ...): the CRDs from ``config/crd/bases`` are
installed, the nodes and pods each test needs are created, and everything created is
deleted at the end. Use a disposable cluster: the labeller under test manages the
nodes it creates (selector ``joulie.io/test-run=<id>``) and garbage-collects
NodePowerProfiles of nodes it does not manage.

Tests read and change the cluster only through HTTP (``Cluster.admin``), as a user
would with kubectl, so watch events flow exactly as they would from a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from joulie.kube.client import ApiError, build_api_client, request_json

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "config" / "crd" / "bases"
ADMIN_AGENT = "joulie-tests-admin"
NPP = "/apis/joulie.io/v1alpha1/nodepowerprofiles"
MERGE = "application/merge-patch+json"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REAL_KUBECONFIG = os.environ.get("JOULIE_TEST_KUBECONFIG")


def first(predicate: Callable[[Any], bool], n: int = 1) -> Callable[[Any], bool]:
    """A kmock criterion matching only the first ``n`` requests that satisfy ``predicate``
    (kmock may evaluate a criterion more than once per request, so requests are remembered by id)."""
    chosen: list[int] = []

    def criterion(request: Any) -> bool:
        if id(request) in chosen:
            return True
        if len(chosen) < n and predicate(request):
            chosen.append(id(request))
            return True
        return False

    return criterion


def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last value {last!r}")


class _CountingPool:
    """Counts the write requests a client sends (used only against a real cluster,
    where the server-side request log is not ours to read)."""

    def __init__(self, pool: Any, counter: list[int]) -> None:
        self._pool = pool
        self._counter = counter

    def request(self, method: str, *args: Any, **kw: Any) -> Any:
        if method.upper() in WRITE_METHODS:
            self._counter[0] += 1
        return self._pool.request(method, *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class Cluster:
    """What a test needs from an API server, independent of which one it is."""

    kmock = False

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.selector = f"joulie.io/managed=true,joulie.io/test-run={self.run_id}"
        self.clients: list[k8s.ApiClient] = []
        self.created: list[str] = []
        self._client_writes = [0]

    # -------------------------------------------------------------- clients

    def configuration(self) -> k8s.Configuration:
        raise NotImplementedError

    def kubeconfig(self, directory: Path) -> str:
        """A kubeconfig file for subprocesses (``joulie labeller --kubeconfig``)."""
        raise NotImplementedError

    def api(self) -> k8s.ApiClient:
        """A client for the code under test."""
        client = k8s.ApiClient(self.configuration())
        self.clients.append(client)
        return client

    @property
    def admin(self) -> k8s.ApiClient:
        if not hasattr(self, "_admin"):
            self._admin = k8s.ApiClient(self.configuration())
            self._admin.user_agent = ADMIN_AGENT
        return self._admin

    def writes(self) -> int:
        """Write requests sent by the code under test so far."""
        return self._client_writes[0]

    # -------------------------------------------------------------- objects

    def req(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        return request_json(self.admin, method, path, params=params, body=body, content_type=content_type)

    def add_node(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"].setdefault("labels", {})["joulie.io/test-run"] = self.run_id
        out = self.req("POST", "/api/v1/nodes", obj)
        self.created.append(f"/api/v1/nodes/{obj['metadata']['name']}")
        return out

    def label_node(self, name: str, labels: dict[str, str | None]) -> None:
        self.req("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": labels}}, MERGE)

    def delete_node(self, name: str) -> None:
        self.req("DELETE", f"/api/v1/nodes/{name}")

    def node_labels(self, name: str) -> dict[str, str]:
        return self.req("GET", f"/api/v1/nodes/{name}")["metadata"].get("labels") or {}

    def add_pod(self, obj: dict[str, Any]) -> dict[str, Any]:
        ns = obj["metadata"].get("namespace", "default")
        obj["metadata"].pop("uid", None)  # the server assigns it
        status = obj.pop("status", None)
        out = self.req("POST", f"/api/v1/namespaces/{ns}/pods", obj)
        path = f"/api/v1/namespaces/{ns}/pods/{obj['metadata']['name']}"
        self.created.append(path)
        if status and status.get("conditions"):
            out = self.req("PATCH", f"{path}/status", {"status": status}, MERGE)
        return out

    def delete_pod(self, name: str, namespace: str = "default") -> None:
        self.req("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", params={"gracePeriodSeconds": 0})

    def npp(self, node: str) -> dict[str, Any] | None:
        try:
            return self.req("GET", f"{NPP}/node-{node}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def events(self, node: str) -> list[dict[str, Any]]:
        items = self.req("GET", "/api/v1/namespaces/default/events").get("items") or []
        return [e for e in items if (e.get("involvedObject") or {}).get("name") == node]

    def cleanup(self) -> None:
        for path in reversed(self.created):
            with contextlib.suppress(ApiError):
                self.req("DELETE", path, params={"gracePeriodSeconds": 0})
        for client in self.clients:
            client.close()


# ---------------------------------------------------------------- kmock


class KmockCluster(Cluster):
    """kmock's emulator served over HTTP from a background asyncio loop."""

    kmock = True
    RESOURCES = (
        "v1/nodes",
        "v1/pods",
        "v1/events",
        "joulie.io/v1alpha1/nodepowerprofiles",
        "joulie.io/v1alpha1/facilitytelemetrytemplates",
        "joulie.io/v1alpha1/powercappingpolicies",
        "v1/secrets",
        "coordination.k8s.io/v1/leases",
    )

    def __init__(self) -> None:
        super().__init__()
        import kmock

        self._kmock = kmock
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per request is noise here
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="kmock", daemon=True)
        self._thread.start()
        self.port = _free_port()
        self.emulator = self.run(self._make_emulator())
        self.server: Any = None
        self.start_server()

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _make_emulator(self) -> Any:
        emulator = self._kmock.KubernetesEmulator()
        await emulator.__aenter__()
        for res in self.RESOURCES:
            emulator.resources[res] = {}
        return emulator

    def start_server(self) -> None:
        async def start() -> Any:
            server = self._kmock.Server(self.emulator, port=self.port)
            await server.__aenter__()
            return server

        self.server = eventually(lambda: self._try(start), 10, 0.2, "kmock to listen again")

    def _try(self, start: Any) -> Any:
        try:
            return self.run(start())
        except OSError:  # the port is still in TIME_WAIT
            return None

    def stop_server(self) -> None:
        """Take the API away: close the listening socket and every open connection."""
        server, self.server = self.server, None

        async def stop() -> None:
            await _drop_connections(server)
            await server.__aexit__(None, None, None)

        self.run(stop(), timeout=60)

    def kubeconfig(self, directory: Path) -> str:
        path = directory / "kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "kmock",
                    "clusters": [{"name": "kmock", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
                    "users": [{"name": "test", "user": {"token": "test-token"}}],
                    "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "test"}}],
                }
            )
        )
        return str(path)

    def configuration(self) -> k8s.Configuration:
        configuration = k8s.Configuration()
        configuration.host = f"http://127.0.0.1:{self.port}"
        configuration.retries = False  # an unreachable API must fail fast in tests
        return configuration

    def requests(
        self, method: str | None = None, path_prefix: str = "", write: bool = False, agent: str | None = None
    ) -> list[Any]:
        """Requests the emulator received from the code under test (not from the test's admin client)."""
        out = []
        for r in list(self.emulator):
            ua = r.headers.get("User-Agent")
            if ua == ADMIN_AGENT or (agent is not None and ua != agent):
                continue
            m = str(r.method.value if hasattr(r.method, "value") else r.method).upper()
            if method and m != method:
                continue
            if write and m not in WRITE_METHODS:
                continue
            if not str(r.url.path).startswith(path_prefix):
                continue
            out.append(r)
        return out

    def writes(self) -> int:
        """Write requests the emulator received from the code under test (server-side count)."""
        return len(self.requests(write=True))

    def react(self, criteria: Any, *payload: Any) -> Any:
        """Install a kmock reaction (``emulator[criteria] << payload ...``) from the loop thread."""

        async def install() -> Any:
            if callable(criteria):
                # kmock matches criteria against its whole request history: only new requests count
                start = len(self.emulator._requests)
                matches = criteria
                view = self.emulator[lambda r: r.id >= start and matches(r)]
            else:
                view = self.emulator[criteria]
            for item in payload:
                view = view << item
            return view

        return self.run(install())

    def seed(self, resource: str, namespace: str | None, objs: list[dict[str, Any]]) -> None:
        """Put objects straight into the emulator's memory (for large fixtures; no events)."""

        async def put() -> None:
            for obj in objs:
                self.emulator.objects[resource, namespace, obj["metadata"]["name"]] = obj

        self.run(put(), timeout=120)

    def cleanup(self) -> None:
        super().cleanup()
        server = self.server

        async def close() -> None:
            if server is not None:
                await _drop_connections(server)
                await server.__aexit__(None, None, None)
            await self.emulator.__aexit__(None, None, None)

        try:
            self.run(close(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


# ---------------------------------------------------------------- real cluster


class RealCluster(Cluster):
    def __init__(self, kubeconfig: str) -> None:
        super().__init__()
        self._kubeconfig = kubeconfig
        self._probe = build_api_client(kubeconfig, None)
        for crd_file in sorted(CRD_DIR.glob("*.yaml")):
            crd = yaml.safe_load(crd_file.read_text())
            path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
            try:
                request_json(self._probe, "POST", path, body=crd)
            except ApiError as exc:
                if exc.status != 409:
                    raise
        eventually(self._crds_served, 30, 0.5, "the Joulie CRDs to be served")

    def _crds_served(self) -> bool:
        try:
            request_json(self._probe, "GET", NPP, params={"limit": 1})
            return True
        except ApiError:
            return False

    def configuration(self) -> k8s.Configuration:
        return self._probe.configuration

    def kubeconfig(self, directory: Path) -> str:
        return str(self._kubeconfig)

    def api(self) -> k8s.ApiClient:
        client = super().api()
        client.rest_client.pool_manager = _CountingPool(client.rest_client.pool_manager, self._client_writes)
        return client

    def cleanup(self) -> None:
        for path in self.created:
            if path.startswith("/api/v1/nodes/"):
                self.created.append(f"{NPP}/node-{path.rsplit('/', 1)[-1]}")
        super().cleanup()
        self._probe.close()


async def _drop_connections(server: Any) -> None:
    """Close every open connection at once, streaming watches included, as a dying API server would
    (aiohttp would otherwise wait for the never-ending watch handlers to finish)."""
    runner = server.server.runner
    runner._shutdown_timeout = 0.1
    for conn in list(runner.server.connections):
        conn.force_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c: Cluster = RealCluster(REAL_KUBECONFIG) if REAL_KUBECONFIG else KmockCluster()
    try:
        yield c
    finally:
        c.cleanup()


@pytest.fixture
def kmock_cluster(cluster: Cluster) -> KmockCluster:
    """Tests that script the server's misbehaviour (410, 409, outages) need the emulator."""
    if not isinstance(cluster, KmockCluster):
        pytest.skip("scripts server failures: needs the kmock emulator, not a real cluster")
    return cluster
