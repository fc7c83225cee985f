"""The agent's client of the kubelet PodResources API: ``v1.PodResourcesLister/List`` on a Unix socket.

The kubelet lists, per pod and container, the CPUs its static CPU manager gave that container
exclusively (``cpu_ids``; empty for containers in the shared pool). The reply is checked
before anyone acts on it: a CPU listed for two containers, a negative id or a nameless pod is
a malformed reply, not an allocation.

The kubelet restarts (upgrades, config changes) and its socket disappears for a moment. The
client keeps the last good answer and reports the failure: cores are never returned to the
shared pool because the kubelet was briefly away, only because it stopped listing their pod.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import grpc

from agent.cpuset import MAX_CPU_ID
from agent.podresources import api_pb2, api_pb2_grpc

DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The kubelet's own limit for PodResources messages (podresources.DefaultMaxMsgSize)."""

FailureReason = Literal["SocketMissing", "PodResourcesUnavailable", "MalformedReply"]


class PodResourcesError(Exception):
    """The kubelet could not tell which CPUs are whose; ``reason`` is a Condition reason."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason: FailureReason = reason
        self.message = message


@dataclass(frozen=True)
class ContainerCpus:
    namespace: str
    pod: str
    container: str
    cpus: frozenset[int]
    """Exclusive CPUs (empty: the container runs in the shared pool)."""


@dataclass(frozen=True)
class Allocations:
    """One List answer, checked: every container the kubelet reported, with its exclusive CPUs."""

    containers: tuple[ContainerCpus, ...] = ()

    def of_pod(self, namespace: str, pod: str) -> dict[str, frozenset[int]]:
        return {c.container: c.cpus for c in self.containers if c.namespace == namespace and c.pod == pod}

    @property
    def exclusive(self) -> frozenset[int]:
        return frozenset(cpu for c in self.containers for cpu in c.cpus)


@dataclass
class Snapshot:
    """What the agent knows now: the last good allocations (None: never answered) and the last failure."""

    allocations: Allocations | None = None
    error: PodResourcesError | None = None
    answered: int = 0
    failures: int = 0


def check_reply(reply: api_pb2.ListPodResourcesResponse) -> Allocations:
    """The reply as :class:`Allocations`, or :class:`PodResourcesError` (``MalformedReply``) saying what is wrong."""
    out: list[ContainerCpus] = []
    owner: dict[int, str] = {}
    seen: set[tuple[str, str, str]] = set()
    for pod in reply.pod_resources:
        if not pod.name or not pod.namespace:
            raise PodResourcesError(
                "MalformedReply", f"a pod without a name or namespace ({pod.namespace!r}/{pod.name!r})"
            )
        for c in pod.containers:
            who = f"{pod.namespace}/{pod.name}/{c.name}"
            if not c.name:
                raise PodResourcesError(
                    "MalformedReply", f"a container without a name in pod {pod.namespace}/{pod.name}"
                )
            key = (pod.namespace, pod.name, c.name)
            if key in seen:
                raise PodResourcesError("MalformedReply", f"container {who} is listed twice")
            seen.add(key)
            cpus: set[int] = set()
            for cpu in c.cpu_ids:
                if not 0 <= cpu <= MAX_CPU_ID:
                    raise PodResourcesError("MalformedReply", f"container {who} holds CPU id {cpu}, not a CPU")
                if cpu in owner and owner[cpu] != who:
                    raise PodResourcesError(
                        "MalformedReply", f"CPU {cpu} is listed as exclusive to both {owner[cpu]} and {who}"
                    )
                owner[cpu] = who
                cpus.add(cpu)
            out.append(ContainerCpus(pod.namespace, pod.name, c.name, frozenset(cpus)))
    return Allocations(tuple(out))


class PodResourcesClient:
    """``List`` over ``unix://<socket>`` with a deadline; remembers the last good answer."""

    def __init__(self, socket_path: str = DEFAULT_SOCKET, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self.snapshot = Snapshot()
        self._channel: grpc.Channel | None = None
        self._stub: api_pb2_grpc.PodResourcesListerStub | None = None

    def _connect(self) -> api_pb2_grpc.PodResourcesListerStub:
        if self._stub is None:
            self._channel = grpc.insecure_channel(
                f"unix://{self.socket_path}",
                options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)],
            )
            self._stub = api_pb2_grpc.PodResourcesListerStub(self._channel)
        return self._stub

    def close(self) -> None:
        """Drop the channel; the next call dials the socket afresh (a restarted kubelet has a new one)."""
        if self._channel is not None:
            self._channel.close()
        self._channel = self._stub = None

    def _missing(self) -> PodResourcesError | None:
        try:
            mode = os.stat(self.socket_path).st_mode
        except FileNotFoundError:
            return PodResourcesError(
                "SocketMissing",
                f"no kubelet PodResources socket at {self.socket_path} (kubelet not running or restarting, or "
                "/var/lib/kubelet/pod-resources not mounted into the agent)",
            )
        except OSError as exc:
            return PodResourcesError("PodResourcesUnavailable", f"cannot stat {self.socket_path}: {exc.strerror}")
        if not stat.S_ISSOCK(mode):
            return PodResourcesError("PodResourcesUnavailable", f"{self.socket_path} is not a Unix socket")
        return None

    def list(self) -> Allocations:
        """One ``List`` call, checked; raises :class:`PodResourcesError`."""
        missing = self._missing()
        if missing is not None:
            self.close()
            raise missing
        try:
            reply = self._connect().List(api_pb2.ListPodResourcesRequest(), timeout=self.timeout)
        except grpc.RpcError as exc:
            self.close()
            raise _rpc_error(exc, self.socket_path) from None
        return check_reply(reply)

    def poll(self) -> Snapshot:
        """Ask the kubelet once; on failure keep the last good allocations and record why."""
        try:
            allocations = self.list()
        except PodResourcesError as exc:
            self.snapshot = Snapshot(self.snapshot.allocations, exc, self.snapshot.answered, self.snapshot.failures + 1)
            return self.snapshot
        self.snapshot = Snapshot(allocations, None, self.snapshot.answered + 1, self.snapshot.failures)
        return self.snapshot


_UNREADABLE = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS})
"""Codes grpc gives a reply that cannot be decoded (locally, on deserialisation) or that arrived damaged."""


def _rpc_error(exc: grpc.RpcError, socket_path: str) -> PodResourcesError:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    name = code.name if code is not None else "UNKNOWN"
    if code in _UNREADABLE:
        return PodResourcesError("MalformedReply", f"the kubelet's List reply could not be read ({name}: {details})")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return PodResourcesError(
            "PodResourcesUnavailable",
            f"the kubelet at {socket_path} does not serve v1.PodResourcesLister/List (Kubernetes >= 1.20 needed)",
        )
    return PodResourcesError("PodResourcesUnavailable", f"kubelet PodResources List failed ({name}: {details})")


def by_pod(allocations: Allocations) -> Mapping[tuple[str, str], dict[str, frozenset[int]]]:
    """``(namespace, pod) -> {container: cpus}``."""
    out: dict[tuple[str, str], dict[str, frozenset[int]]] = {}
    for c in allocations.containers:
        out.setdefault((c.namespace, c.pod), {})[c.container] = c.cpus
    return out
